"""A PyTorch multi-layer perceptron for tabular data, as real scikit-learn estimators.

Why this exists: sklearn's own ``MLPClassifier`` has no batch norm, no dropout, no GPU and no
per-epoch hook for Optuna pruning. These estimators keep sklearn's contract (``clone``,
``Pipeline``, ``cross_validate``, ``parametrize_with_checks``) so the runner treats them like
any other model family; the constructor arguments are the search-space keys.

Design points:

- Inputs are already preprocessed numeric features; no scaling happens here except the
  regressor's internal target standardisation (so unscaled targets such as prices train
  with the default learning rate).
- Early stopping on a validation loss (``eval_set`` or a held-out ``validation_fraction``),
  restoring the best epoch's weights; ``best_iteration_ + 1`` is the epoch count to use
  when refitting on all rows with ``early_stopping_rounds=None``.
- Determinism: all randomness (weight init, shuffling, dropout masks) comes from a local
  ``torch.Generator``; torch's global RNG is never touched. Thread count is bounded by
  ``num_threads`` only while fitting/predicting and restored afterwards.
- Serialisation: ``__getstate__`` stores the network as numpy arrays, so ``pickle`` and
  ``skops.io`` both work, and the network is rebuilt on load.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import numbers
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d, validate_data
from torch import nn

if TYPE_CHECKING:
    import onnx

__all__ = ["EpochCallback", "TorchMLPClassifier", "TorchMLPRegressor"]

EpochCallback = Callable[[int, float], "bool | None"]
"""``cb(epoch, val_loss)`` called after each epoch; returning True stops training."""

# Rows per forward pass at prediction/validation time: bounds memory, not results.
_PREDICT_CHUNK = 65536
_FLOAT_DTYPES = [np.float64, np.float32]


# --------------------------------------------------------------------------------------
# network
# --------------------------------------------------------------------------------------


class _Dropout(nn.Module):
    """Inverted dropout drawing its mask from an explicit generator.

    ``nn.Dropout`` only uses torch's global RNG, which would make fits depend on (and
    disturb) global state; this one uses the fit's local generator.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = torch.empty_like(x).bernoulli_(keep, generator=self.generator)
        return x * mask / keep


class _MLP(nn.Module):
    """[Linear -> BatchNorm? -> ReLU -> Dropout?] * n_layers -> Linear."""

    def __init__(
        self,
        n_in: int,
        n_out: int,
        n_layers: int,
        hidden_size: int,
        dropout: float,
        batch_norm: bool,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_in
        for _ in range(n_layers):
            layers.append(nn.Linear(width, hidden_size))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden_size))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(_Dropout(dropout))
            width = hidden_size
        layers.append(nn.Linear(width, n_out))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    def set_dropout_generator(self, generator: torch.Generator | None) -> None:
        for module in self.modules():
            if isinstance(module, _Dropout):
                module.generator = generator


def _build_mlp(arch: dict[str, Any]) -> _MLP:
    """Build the network with uninitialised CPU storage, without touching torch's RNG."""
    with torch.device("meta"):
        net = _MLP(**arch)
    return net.to_empty(device="cpu")


def _init_mlp(net: _MLP, generator: torch.Generator) -> None:
    """torch's default Linear/BatchNorm init, but drawn from ``generator``."""
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.Linear):
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
                bound = 1.0 / math.sqrt(module.in_features)
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
            elif isinstance(module, nn.BatchNorm1d):
                module.reset_parameters()


class _ProbaHead(nn.Module):
    """Network + softmax: what the classifier's ONNX graph returns."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)


class _DestandardiseHead(nn.Module):
    """Network + undo of the target standardisation: the regressor's ONNX graph."""

    def __init__(self, net: nn.Module, mean: float, scale: float) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * self.scale + self.mean


@contextlib.contextmanager
def _torch_threads(num_threads: int | None) -> Iterator[None]:
    """Bound torch's intra-op threads for the block, then restore the previous value."""
    if num_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _batches(perm: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Split a permutation into mini-batches, never leaving a batch of one row.

    BatchNorm cannot train on a single row, so a trailing batch of size 1 is merged into
    the previous one.
    """
    chunks = list(torch.split(perm, batch_size))
    if len(chunks) > 1 and len(chunks[-1]) == 1:
        last = chunks.pop()  # popped first: `chunks[-2] = cat(.., chunks.pop())` mis-indexes
        chunks[-1] = torch.cat([chunks[-1], last])
    return chunks


# --------------------------------------------------------------------------------------
# estimators
# --------------------------------------------------------------------------------------


class _BaseTorchMLP(BaseEstimator):
    """Shared training loop, validation, serialisation and ONNX export.

    Parameters (shared; the names are the search-space keys):

    - ``n_layers``, ``hidden_size``: hidden blocks ``Linear -> BatchNorm? -> ReLU ->
      Dropout?``; ``n_layers=0`` is a linear/logistic model.
    - ``dropout`` in [0, 1), ``batch_norm``: regularisation inside each block.
    - ``learning_rate``, ``weight_decay``: AdamW (decoupled weight decay).
    - ``batch_size``, ``max_epochs``: mini-batch training budget.
    - ``early_stopping_rounds``: stop after this many epochs without a lower validation
      loss. ``None`` with no ``eval_set`` trains exactly ``max_epochs`` on all rows.
    - ``validation_fraction``: rows held out (stratified for classifiers) for early
      stopping when ``eval_set`` is not given; ignored when ``early_stopping_rounds=None``.
    - ``device``: "auto" (cuda if available), "cpu", "cuda" or "cuda:N".
    - ``num_threads``: torch intra-op threads while fitting/predicting (restored after);
      ``None`` leaves torch's global setting alone.
    - ``random_state``: seeds init, shuffling, dropout and the holdout split.

    Whenever there is a validation set (``eval_set`` or the holdout) the fitted network
    holds the weights of ``best_iteration_``, the epoch with the lowest validation loss.
    """

    _onnx_output_name: str = "output"

    def __init__(
        self,
        n_layers: int = 2,
        hidden_size: int = 128,
        dropout: float = 0.1,
        batch_norm: bool = True,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 256,
        max_epochs: int = 100,
        early_stopping_rounds: int | None = 10,
        validation_fraction: float = 0.1,
        device: str = "auto",
        num_threads: int | None = 1,
        random_state: int | np.random.RandomState | None = 0,
    ) -> None:
        self.n_layers = n_layers
        self.hidden_size = hidden_size
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.device = device
        self.num_threads = num_threads
        self.random_state = random_state

    # ---- hooks the subclasses implement -------------------------------------------

    def _loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-row loss (reduction='none')."""
        raise NotImplementedError

    def _target_tensor(self, target: np.ndarray, device: torch.device) -> torch.Tensor:
        raise NotImplementedError

    def _onnx_module(self, net: nn.Module) -> nn.Module:
        raise NotImplementedError

    # ---- validation helpers ---------------------------------------------------------

    def _check_params(self) -> None:
        """Fail fast with the parameter's name (values may come from a search space)."""

        def is_int(v: Any) -> bool:
            return isinstance(v, numbers.Integral) and not isinstance(v, bool)

        def bad(name: str, need: str) -> ValueError:
            return ValueError(
                f"{type(self).__name__}: parameter {name}={getattr(self, name)!r} is invalid; "
                f"it must be {need}."
            )

        if not (is_int(self.n_layers) and self.n_layers >= 0):
            raise bad("n_layers", "an int >= 0")
        if not (is_int(self.hidden_size) and self.hidden_size >= 1):
            raise bad("hidden_size", "an int >= 1")
        if not (isinstance(self.dropout, numbers.Real) and 0.0 <= self.dropout < 1.0):
            raise bad("dropout", "a float in [0, 1)")
        if not (isinstance(self.learning_rate, numbers.Real) and self.learning_rate > 0):
            raise bad("learning_rate", "a float > 0")
        if not (isinstance(self.weight_decay, numbers.Real) and self.weight_decay >= 0):
            raise bad("weight_decay", "a float >= 0")
        if not (is_int(self.batch_size) and self.batch_size >= 1):
            raise bad("batch_size", "an int >= 1")
        if not (is_int(self.max_epochs) and self.max_epochs >= 1):
            raise bad("max_epochs", "an int >= 1")
        esr = self.early_stopping_rounds
        if not (esr is None or (is_int(esr) and esr >= 1)):
            raise bad("early_stopping_rounds", "None or an int >= 1")
        vf = self.validation_fraction
        if not (isinstance(vf, numbers.Real) and 0.0 <= vf < 1.0):
            raise bad("validation_fraction", "a float in [0, 1)")
        nt = self.num_threads
        if not (nt is None or (is_int(nt) and nt >= 1)):
            raise bad("num_threads", "None (leave torch's setting) or an int >= 1")

    def _resolve_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(
                f"{type(self).__name__}: parameter device={self.device!r} is invalid; "
                "use 'auto', 'cpu' or 'cuda'."
            ) from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"{type(self).__name__}: device={self.device!r} but CUDA is not available; "
                "use device='auto' or 'cpu'."
            )
        return device

    def _sample_weight(self, sample_weight: Any, n_samples: int) -> np.ndarray:
        if sample_weight is None:
            return np.ones(n_samples, dtype=np.float64)
        sw = check_array(
            sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight"
        )
        if sw.ndim != 1 or sw.shape[0] != n_samples:
            raise ValueError(f"sample_weight.shape == {sw.shape}, expected ({n_samples},).")
        if np.any(sw < 0):
            raise ValueError("Negative values in sample_weight are not allowed.")
        if not np.any(sw > 0):
            raise ValueError("Sample weights must contain at least one non-zero number.")
        return sw

    @staticmethod
    def _unpack_eval_set(eval_set: Sequence[Any]) -> tuple[Any, Any, Any]:
        if not isinstance(eval_set, (list, tuple)) or len(eval_set) != 1:
            raise ValueError(
                "eval_set must be a list holding exactly one (X_val, y_val) or "
                "(X_val, y_val, sample_weight_val) tuple."
            )
        item = eval_set[0]
        if not isinstance(item, (list, tuple)) or len(item) not in (2, 3):
            raise ValueError("eval_set[0] must be (X_val, y_val) or (X_val, y_val, sample_weight).")
        X_val, y_val = item[0], item[1]
        sw_val = item[2] if len(item) == 3 else None
        return X_val, y_val, sw_val

    # ---- training -------------------------------------------------------------------

    def _fit_network(
        self,
        X: np.ndarray,
        target: np.ndarray,
        weight: np.ndarray,
        n_outputs: int,
        validation: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
        stratify: np.ndarray | None,
        callbacks: Sequence[EpochCallback] | None,
    ) -> None:
        """Train, early-stop, restore the best epoch, set the fitted attributes."""
        with _torch_threads(self.num_threads):
            self._train(X, target, weight, n_outputs, validation, stratify, callbacks)

    def _train(
        self,
        X: np.ndarray,
        target: np.ndarray,
        weight: np.ndarray,
        n_outputs: int,
        validation: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
        stratify: np.ndarray | None,
        callbacks: Sequence[EpochCallback] | None,
    ) -> None:
        name = type(self).__name__
        n_samples = X.shape[0]
        if n_samples < 2:
            raise ValueError(f"{name} needs at least 2 samples to fit, got n_samples={n_samples}.")
        device = self._resolve_device()
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        callbacks = list(callbacks or [])

        if validation is None and self.early_stopping_rounds is not None:
            split = self._holdout(n_samples, stratify, seed)
            if split is not None:
                train_idx, val_idx = split
                validation = (X[val_idx], target[val_idx], weight[val_idx])
                X, target, weight = X[train_idx], target[train_idx], weight[train_idx]
        if validation is None and callbacks:
            warnings.warn(
                f"{name}: callbacks are only called when there is a validation set "
                "(eval_set, or early_stopping_rounds with validation_fraction > 0); "
                "they will not be called.",
                UserWarning,
                stacklevel=4,
            )
        if not np.any(weight > 0):
            raise ValueError(
                f"{name}: all training rows have zero sample weight after the validation "
                "split; use another random_state or a smaller validation_fraction."
            )

        arch = {
            "n_in": int(X.shape[1]),
            "n_out": int(n_outputs),
            "n_layers": int(self.n_layers),
            "hidden_size": int(self.hidden_size),
            "dropout": float(self.dropout),
            "batch_norm": bool(self.batch_norm),
        }
        generator = torch.Generator().manual_seed(seed)
        net = _build_mlp(arch)
        _init_mlp(net, generator)
        net.to(device)
        dropout_generator = (
            generator if device.type == "cpu" else torch.Generator(device=device).manual_seed(seed)
        )

        Xt = torch.tensor(X, dtype=torch.float32, device=device)
        tt = self._target_tensor(target, device)
        # Normalised to mean 1: unweighted and all-ones fits are numerically identical and
        # the learning rate means the same whatever the weights' scale.
        wt = torch.tensor(weight / weight.mean(), dtype=torch.float32, device=device)
        if validation is not None:
            Xv = torch.tensor(validation[0], dtype=torch.float32, device=device)
            tv = self._target_tensor(validation[1], device)
            wv = torch.tensor(validation[2], dtype=torch.float32, device=device)

        optimizer = torch.optim.AdamW(
            net.parameters(), lr=float(self.learning_rate), weight_decay=float(self.weight_decay)
        )
        batch_size = min(int(self.batch_size), X.shape[0])
        training_loss: list[float] = []
        validation_loss: list[float] = []
        best_score, best_epoch, best_state = math.inf, -1, None
        epoch = -1

        net.set_dropout_generator(dropout_generator)
        try:
            for epoch in range(int(self.max_epochs)):
                net.train()
                perm = torch.randperm(X.shape[0], generator=generator).to(device)
                total = torch.zeros((), dtype=torch.float64, device=device)  # no per-batch sync
                for idx in _batches(perm, batch_size):
                    optimizer.zero_grad(set_to_none=True)
                    loss = (self._loss(net(Xt[idx]), tt[idx]) * wt[idx]).mean()
                    loss.backward()
                    optimizer.step()
                    total += loss.detach().double() * len(idx)
                training_loss.append(float(total) / X.shape[0])
                if validation is None:
                    continue

                val_loss = self._weighted_loss(net, Xv, tv, wv)
                validation_loss.append(val_loss)
                score = val_loss if math.isfinite(val_loss) else math.inf
                if best_state is None or score < best_score:
                    best_score, best_epoch = score, epoch
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                stop = False
                for callback in callbacks:
                    # Exceptions (e.g. optuna.TrialPruned) propagate unchanged.
                    if callback(epoch, val_loss):
                        stop = True
                if stop:
                    break
                esr = self.early_stopping_rounds
                if esr is not None and epoch - best_epoch >= esr:
                    break
        finally:
            net.set_dropout_generator(None)

        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()

        self._net = net
        self._arch = arch
        self.device_ = str(device)
        self.n_iter_ = epoch + 1
        self.best_iteration_ = best_epoch if best_state is not None else self.n_iter_ - 1
        self.training_loss_ = training_loss
        self.validation_loss_ = validation_loss

    def _holdout(
        self, n_samples: int, stratify: np.ndarray | None, seed: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Indices of the early-stopping split, or None when it is impossible/disabled."""
        fraction = float(self.validation_fraction)
        n_val = math.ceil(fraction * n_samples)
        if fraction <= 0 or n_val < 1 or n_samples - n_val < 2:
            return None
        indices = np.arange(n_samples)
        try:
            train_idx, val_idx = train_test_split(
                indices, test_size=n_val, random_state=seed, stratify=stratify
            )
        except ValueError:
            # Too few rows of some class to stratify: fall back to a plain shuffled split.
            train_idx, val_idx = train_test_split(indices, test_size=n_val, random_state=seed)
        return np.sort(train_idx), np.sort(val_idx)

    def _weighted_loss(
        self, net: nn.Module, X: torch.Tensor, target: torch.Tensor, weight: torch.Tensor
    ) -> float:
        """Weighted mean loss in eval mode (plain mean if the weights sum to zero)."""
        net.eval()
        total = torch.zeros((), dtype=torch.float64, device=X.device)
        with torch.inference_mode():
            for start in range(0, X.shape[0], _PREDICT_CHUNK):
                sl = slice(start, start + _PREDICT_CHUNK)
                losses = self._loss(net(X[sl]), target[sl]).double()
                total += (losses * weight[sl].double()).sum()
            weight_sum = float(weight.double().sum())
            if weight_sum > 0:
                return float(total) / weight_sum
            total.zero_()
            for start in range(0, X.shape[0], _PREDICT_CHUNK):
                sl = slice(start, start + _PREDICT_CHUNK)
                total += self._loss(net(X[sl]), target[sl]).double().sum()
            return float(total) / X.shape[0]

    # ---- prediction -----------------------------------------------------------------

    def _forward(self, X: Any) -> np.ndarray:
        """Raw network outputs (logits or standardised predictions) as float64."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_FLOAT_DTYPES)
        device = next(self._net.parameters()).device
        out = []
        with _torch_threads(self.num_threads), torch.inference_mode():
            for start in range(0, X.shape[0], _PREDICT_CHUNK):
                xb = torch.tensor(
                    X[start : start + _PREDICT_CHUNK], dtype=torch.float32, device=device
                )
                out.append(self._net(xb).cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    # ---- serialisation --------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """Plain Python/numpy state: skops cannot store torch objects."""
        state = dict(super().__getstate__())  # copy: never mutate the live __dict__
        net = state.pop("_net", None)
        if net is not None:
            state["_net_state"] = {
                key: value.detach().cpu().numpy().copy() for key, value in net.state_dict().items()
            }
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        net_state = state.pop("_net_state", None)
        super().__setstate__(state)
        if net_state is not None:
            net = _build_mlp(self._arch)
            net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in net_state.items()})
            # A model trained on a GPU must still load on a CPU-only serving machine.
            if self.device_.startswith("cuda") and not torch.cuda.is_available():
                self.device_ = "cpu"
            self._net = net.to(self.device_).eval()

    # ---- ONNX -----------------------------------------------------------------------

    def to_onnx(self, opset_version: int | None = None) -> onnx.ModelProto:
        """Export the fitted network (eval mode) with ``torch.onnx.export(dynamo=True)``.

        The graph has one float32 input ``"input"`` of shape ``[N, n_features_in_]`` (N is
        dynamic) and one float32 output: ``"probabilities"`` ``[N, n_classes]`` for the
        classifier (columns in ``classes_`` order), ``"variable"`` ``[N, 1]`` for the
        regressor (already de-standardised). The names follow skl2onnx's conventions so the
        graph can be chained after a skl2onnx preprocessor. ``opset_version`` (e.g. 17 to
        match a skl2onnx graph) defaults to torch's choice.
        """
        check_is_fitted(self)
        net = copy.deepcopy(self._net).to("cpu").eval()
        module = self._onnx_module(net).eval()
        example = torch.zeros((2, self.n_features_in_), dtype=torch.float32)
        onnx_logger = logging.getLogger("torch.onnx")
        previous_level = onnx_logger.level
        onnx_logger.setLevel(logging.ERROR)  # silences "torchvision is not installed" noise
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                program = torch.onnx.export(
                    module,
                    (example,),
                    input_names=["input"],
                    output_names=[self._onnx_output_name],
                    dynamic_shapes=({0: torch.export.Dim("batch")},),
                    opset_version=opset_version,
                    dynamo=True,
                    verbose=False,
                )
        finally:
            onnx_logger.setLevel(previous_level)
        return program.model_proto


class TorchMLPClassifier(ClassifierMixin, _BaseTorchMLP):
    """PyTorch MLP classifier (softmax cross-entropy, binary or multiclass).

    ``classes_`` keeps the original labels (any dtype, strings included); ``predict``
    returns them. ``class_weight`` (None, "balanced" or {label: weight}) multiplies
    ``sample_weight`` in both the training and the validation loss.
    """

    _onnx_output_name = "probabilities"

    def __init__(
        self,
        n_layers: int = 2,
        hidden_size: int = 128,
        dropout: float = 0.1,
        batch_norm: bool = True,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 256,
        max_epochs: int = 100,
        early_stopping_rounds: int | None = 10,
        validation_fraction: float = 0.1,
        class_weight: str | dict[Any, float] | None = None,
        device: str = "auto",
        num_threads: int | None = 1,
        random_state: int | np.random.RandomState | None = 0,
    ) -> None:
        super().__init__(
            n_layers=n_layers,
            hidden_size=hidden_size,
            dropout=dropout,
            batch_norm=batch_norm,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            batch_size=batch_size,
            max_epochs=max_epochs,
            early_stopping_rounds=early_stopping_rounds,
            validation_fraction=validation_fraction,
            device=device,
            num_threads=num_threads,
            random_state=random_state,
        )
        self.class_weight = class_weight

    def fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        eval_set: Sequence[tuple[Any, ...]] | None = None,
        callbacks: Sequence[EpochCallback] | None = None,
    ) -> TorchMLPClassifier:
        """Fit the network; returns self.

        ``eval_set=[(X_val, y_val[, w_val])]`` replaces the internal holdout for early
        stopping. ``callbacks``: ``cb(epoch, val_loss)`` after each epoch when there is a
        validation set; a truthy return stops training, exceptions (``optuna.TrialPruned``)
        propagate unchanged.
        """
        self._check_params()
        X, y = validate_data(self, X, y, dtype=_FLOAT_DTYPES)
        check_classification_targets(y)
        classes, y_enc = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes in y, got 1 class "
                f"({classes[0]!r})."
            )
        self.classes_ = classes
        per_class = self._class_weights(y)
        weight = self._sample_weight(sample_weight, X.shape[0]) * per_class[y_enc]
        if np.unique(y_enc[weight > 0]).size < 2:
            raise ValueError(
                f"{type(self).__name__}: only one class has a positive sample weight; "
                "at least 2 classes are needed."
            )

        validation = None
        if eval_set is not None:
            X_val, y_val, sw_val = self._unpack_eval_set(eval_set)
            X_val = validate_data(self, X_val, reset=False, dtype=_FLOAT_DTYPES)
            y_val = column_or_1d(check_array(y_val, ensure_2d=False, dtype=None), warn=True)
            if y_val.shape[0] != X_val.shape[0]:
                raise ValueError("eval_set: X_val and y_val have different numbers of rows.")
            y_val_enc = self._encode(y_val)
            w_val = self._sample_weight(sw_val, X_val.shape[0]) * per_class[y_val_enc]
            validation = (X_val, y_val_enc, w_val)

        self._fit_network(
            X,
            y_enc,
            weight,
            n_outputs=len(classes),
            validation=validation,
            stratify=y_enc,
            callbacks=callbacks,
        )
        return self

    def _class_weights(self, y: np.ndarray) -> np.ndarray:
        if self.class_weight is None:
            return np.ones(len(self.classes_))
        return compute_class_weight(self.class_weight, classes=self.classes_, y=y)

    def _encode(self, labels: np.ndarray) -> np.ndarray:
        """Original labels -> indices into ``classes_`` (unknown labels are an error)."""
        idx = np.searchsorted(self.classes_, labels)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        unknown = self.classes_[idx] != labels
        if np.any(unknown):
            raise ValueError(
                f"eval_set: y_val has labels not seen in y: {np.unique(labels[unknown])!r}."
            )
        return idx

    def _loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(output, target, reduction="none")

    def _target_tensor(self, target: np.ndarray, device: torch.device) -> torch.Tensor:
        return torch.tensor(target, dtype=torch.long, device=device)

    def _onnx_module(self, net: nn.Module) -> nn.Module:
        return _ProbaHead(net)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in ``classes_`` order."""
        logits = self._forward(X)
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        proba /= proba.sum(axis=1, keepdims=True)
        return proba

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class, as an original label."""
        logits = self._forward(X)  # checks fitted-ness before classes_ is touched
        return self.classes_[np.argmax(logits, axis=1)]


class TorchMLPRegressor(RegressorMixin, _BaseTorchMLP):
    """PyTorch MLP regressor (MSE on a standardised target, undone in ``predict``).

    ``validation_loss_`` is therefore the MSE in units of the training target's variance
    (about 1 - R^2), comparable across datasets.
    """

    _onnx_output_name = "variable"

    def fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        eval_set: Sequence[tuple[Any, ...]] | None = None,
        callbacks: Sequence[EpochCallback] | None = None,
    ) -> TorchMLPRegressor:
        """Fit the network; returns self.

        ``eval_set=[(X_val, y_val[, w_val])]`` replaces the internal holdout for early
        stopping. ``callbacks``: ``cb(epoch, val_loss)`` after each epoch when there is a
        validation set; a truthy return stops training, exceptions (``optuna.TrialPruned``)
        propagate unchanged.
        """
        self._check_params()
        X, y = validate_data(self, X, y, dtype=_FLOAT_DTYPES, y_numeric=True)
        y = y.astype(np.float64)
        weight = self._sample_weight(sample_weight, X.shape[0])
        self.y_mean_ = float(np.mean(y))
        std = float(np.std(y))
        self.y_scale_ = std if std > 0 else 1.0

        validation = None
        if eval_set is not None:
            X_val, y_val, sw_val = self._unpack_eval_set(eval_set)
            X_val = validate_data(self, X_val, reset=False, dtype=_FLOAT_DTYPES)
            y_val = column_or_1d(check_array(y_val, ensure_2d=False, dtype=np.float64), warn=True)
            if y_val.shape[0] != X_val.shape[0]:
                raise ValueError("eval_set: X_val and y_val have different numbers of rows.")
            w_val = self._sample_weight(sw_val, X_val.shape[0])
            validation = (X_val, self._standardise(y_val), w_val)

        self._fit_network(
            X,
            self._standardise(y),
            weight,
            n_outputs=1,
            validation=validation,
            stratify=None,
            callbacks=callbacks,
        )
        return self

    def _standardise(self, y: np.ndarray) -> np.ndarray:
        return (y - self.y_mean_) / self.y_scale_

    def _loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (output[:, 0] - target) ** 2

    def _target_tensor(self, target: np.ndarray, device: torch.device) -> torch.Tensor:
        return torch.tensor(target, dtype=torch.float32, device=device)

    def _onnx_module(self, net: nn.Module) -> nn.Module:
        return _DestandardiseHead(net, self.y_mean_, self.y_scale_)

    def predict(self, X: Any) -> np.ndarray:
        """Predictions on the original target scale."""
        return self._forward(X)[:, 0] * self.y_scale_ + self.y_mean_
