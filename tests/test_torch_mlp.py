"""Tests for the PyTorch MLP estimators: sklearn citizenship, training behaviour, I/O.

Small data and few epochs throughout so the file runs in well under a minute on 2 cores.
"""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import optuna
import pandas as pd
import pytest
import skops.io as sio
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes, make_blobs, make_classification
from sklearn.metrics import log_loss, recall_score
from sklearn.model_selection import KFold, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from mlengine.models.torch_mlp import TorchMLPClassifier, TorchMLPRegressor

# Small but able to pass sklearn's accuracy / R^2 thresholds in check_*_train.
SMALL = {"hidden_size": 16, "batch_size": 64, "learning_rate": 2e-2, "max_epochs": 15}

_SAMPLE_WEIGHT_EQUIVALENCE = (
    "mini-batch SGD is not invariant to repeating rows vs. integer weights: repeated rows "
    "change the shuffling, the batch composition (and BatchNorm statistics) and which "
    "rows land in the early-stopping holdout, so predictions differ by design."
)


# check_array_api_input is skipped by sklearn itself unless SCIPY_ARRAY_API=1 is set; the
# estimators take numpy/pandas only (torch tensors are an internal detail).
def _expected_failed_checks(estimator: object) -> dict[str, str]:
    return {"check_sample_weight_equivalence_on_dense_data": _SAMPLE_WEIGHT_EQUIVALENCE}


@parametrize_with_checks(
    [TorchMLPClassifier(**SMALL), TorchMLPRegressor(**SMALL)],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)


# ---- shared data ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n_samples=300, centers=3, n_features=5, random_state=0)
    return StandardScaler().fit_transform(X), y


def test_importing_models_package_does_not_import_torch() -> None:
    code = "import sys, mlengine.models; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- determinism ------------------------------------------------------------------------


def test_same_seed_identical_and_global_state_untouched(blobs) -> None:
    X, y = blobs
    torch.set_num_threads(2)
    rng_before = torch.random.get_rng_state()
    params = {**SMALL, "max_epochs": 5, "device": "cpu", "num_threads": 1, "random_state": 3}
    p1 = TorchMLPClassifier(**params).fit(X, y).predict_proba(X)
    p2 = TorchMLPClassifier(**params).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(p1, p2)
    # torch's global RNG is not consumed and the thread count is restored after fit.
    assert torch.equal(rng_before, torch.random.get_rng_state())
    assert torch.get_num_threads() == 2


def test_different_seeds_differ(blobs) -> None:
    X, y = blobs
    params = {**SMALL, "max_epochs": 3}
    p1 = TorchMLPClassifier(**params, random_state=0).fit(X, y).predict_proba(X)
    p2 = TorchMLPClassifier(**params, random_state=1).fit(X, y).predict_proba(X)
    assert np.abs(p1 - p2).max() > 1e-3


# ---- early stopping, refit, callbacks ---------------------------------------------------


@pytest.fixture(scope="module")
def noise_problem() -> tuple[np.ndarray, ...]:
    """Random labels: a wide net overfits at once, so validation loss rises early."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 20))
    y = rng.randint(0, 2, size=400)
    return X[:300], y[:300], X[300:], y[300:]


def test_early_stopping_stops_and_restores_best_epoch(noise_problem) -> None:
    X, y, X_val, y_val = noise_problem
    clf = TorchMLPClassifier(
        hidden_size=256, dropout=0.0, learning_rate=1e-2, batch_size=32,
        max_epochs=200, early_stopping_rounds=3,
    ).fit(X, y, eval_set=[(X_val, y_val)])  # fmt: skip
    assert clf.n_iter_ < 200
    assert clf.best_iteration_ < clf.n_iter_
    # Patience semantics: stop exactly early_stopping_rounds epochs after the best one.
    assert clf.n_iter_ == clf.best_iteration_ + 1 + 3
    assert len(clf.validation_loss_) == len(clf.training_loss_) == clf.n_iter_
    assert clf.best_iteration_ == int(np.argmin(clf.validation_loss_))
    # The returned weights are the best epoch's, not the last epoch's.
    restored = log_loss(y_val, clf.predict_proba(X_val))
    assert restored == pytest.approx(clf.validation_loss_[clf.best_iteration_], rel=1e-4)
    assert restored < clf.validation_loss_[-1]


def test_internal_holdout_is_used_without_eval_set(noise_problem) -> None:
    X, y, _, _ = noise_problem
    clf = TorchMLPClassifier(
        hidden_size=256, dropout=0.0, learning_rate=1e-2, batch_size=32,
        max_epochs=200, early_stopping_rounds=3, validation_fraction=0.2,
    ).fit(X, y)  # fmt: skip
    assert clf.n_iter_ < 200
    assert len(clf.validation_loss_) == clf.n_iter_


def test_no_early_stopping_trains_exactly_max_epochs(blobs) -> None:
    """How the runner refits: all rows, max_epochs = best epoch count from CV."""
    X, y = blobs
    reg = TorchMLPRegressor(**{**SMALL, "max_epochs": 7}, early_stopping_rounds=None)
    reg.fit(X, y.astype(float))
    assert reg.n_iter_ == 7
    assert reg.best_iteration_ == 6
    assert reg.validation_loss_ == []


def test_callbacks_see_every_epoch_and_can_stop(blobs) -> None:
    X, y = blobs
    seen: list[tuple[int, float]] = []

    def record(epoch: int, val_loss: float) -> bool | None:
        seen.append((epoch, val_loss))
        return epoch == 4 or None

    clf = TorchMLPClassifier(**SMALL, early_stopping_rounds=100).fit(X, y, callbacks=[record])
    assert clf.n_iter_ == 5
    assert [e for e, _ in seen] == [0, 1, 2, 3, 4]
    assert [v for _, v in seen] == clf.validation_loss_


def test_callback_exception_propagates_and_threads_restored(blobs) -> None:
    X, y = blobs
    torch.set_num_threads(2)
    threads_during_fit: list[int] = []

    def prune(epoch: int, val_loss: float) -> None:
        threads_during_fit.append(torch.get_num_threads())
        if epoch == 1:
            raise optuna.TrialPruned("pruned at epoch 1")

    with pytest.raises(optuna.TrialPruned, match="pruned at epoch 1"):
        TorchMLPRegressor(**SMALL).fit(X, y.astype(float), callbacks=[prune])
    assert threads_during_fit == [1, 1]
    assert torch.get_num_threads() == 2


def test_callbacks_without_validation_set_warn(blobs) -> None:
    X, y = blobs
    reg = TorchMLPRegressor(**{**SMALL, "max_epochs": 2}, early_stopping_rounds=None)
    with pytest.warns(UserWarning, match="callbacks are only called"):
        reg.fit(X, y.astype(float), callbacks=[lambda epoch, loss: None])
    assert reg.n_iter_ == 2


@pytest.mark.parametrize(
    ("param", "value"),
    [("hidden_size", 0), ("dropout", 1.0), ("max_epochs", 0), ("early_stopping_rounds", 0),
     ("validation_fraction", 1.0), ("device", "tpu")],
)  # fmt: skip
def test_invalid_params_name_the_parameter(blobs, param: str, value: object) -> None:
    X, y = blobs
    with pytest.raises(ValueError, match=f"{param}="):
        TorchMLPRegressor(**{param: value}).fit(X, y.astype(float))


# ---- labels and weights -----------------------------------------------------------------


def test_string_labels_round_trip(blobs) -> None:
    X, y = blobs
    names = np.array(["cat", "dog", "fish"])
    X_df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    y_s = pd.Series(names[y])
    clf = TorchMLPClassifier(**SMALL).fit(X_df, y_s, eval_set=[(X_df, y_s)])
    assert list(clf.classes_) == ["cat", "dog", "fish"]
    pred = clf.predict(X_df)
    assert set(pred) <= set(names)
    assert np.mean(pred == names[y]) > 0.9
    with pytest.raises(ValueError, match="not seen"):
        clf.fit(X_df, y_s, eval_set=[(X_df, y_s.replace("cat", "cow"))])


def test_class_weight_balanced_raises_minority_recall() -> None:
    X, y = make_classification(
        n_samples=1200, n_features=8, n_informative=4, weights=[0.93, 0.07],
        class_sep=0.6, flip_y=0.0, random_state=0,
    )  # fmt: skip
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.5, stratify=y, random_state=0)
    params = {**SMALL, "max_epochs": 15, "early_stopping_rounds": None}
    plain = TorchMLPClassifier(**params).fit(X_tr, y_tr)
    balanced = TorchMLPClassifier(**params, class_weight="balanced").fit(X_tr, y_tr)
    recall_plain = recall_score(y_te, plain.predict(X_te))
    recall_balanced = recall_score(y_te, balanced.predict(X_te))
    assert recall_balanced >= recall_plain + 0.1, (recall_plain, recall_balanced)


def test_class_weight_equals_sample_weight(blobs) -> None:
    X, y = blobs
    weights = {0: 1.0, 1: 3.0, 2: 0.5}
    params = {**SMALL, "max_epochs": 3}
    a = TorchMLPClassifier(**params, class_weight=weights).fit(X, y)
    b = TorchMLPClassifier(**params).fit(X, y, sample_weight=np.vectorize(weights.get)(y))
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-6)


# ---- quality on real datasets -----------------------------------------------------------


def test_classifier_breast_cancer_accuracy() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, stratify=y, random_state=0)
    model = make_pipeline(StandardScaler(), TorchMLPClassifier(hidden_size=64, max_epochs=30))
    assert model.fit(X_tr, y_tr).score(X_te, y_te) >= 0.9


def test_regressor_diabetes_r2() -> None:
    """Unscaled target (25..346): works because the regressor standardises y itself."""
    X, y = load_diabetes(return_X_y=True)
    model = make_pipeline(StandardScaler(), TorchMLPRegressor(hidden_size=64, max_epochs=50))
    scores = cross_val_score(model, X, y, cv=KFold(5, shuffle=True, random_state=0))
    assert scores.mean() >= 0.4, scores


# ---- serialisation and ONNX -------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted(blobs) -> dict[str, TorchMLPClassifier | TorchMLPRegressor]:
    X, y = blobs
    target = 1000.0 * X[:, 0] + 50.0 * y  # large, unscaled target
    return {
        "classifier": TorchMLPClassifier(**SMALL).fit(X, np.array(["a", "b", "c"])[y]),
        "regressor": TorchMLPRegressor(**SMALL).fit(X, target),
    }


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_pickle_and_skops_round_trip(fitted, blobs, kind: str) -> None:
    X, _ = blobs
    model = fitted[kind]
    expected = model.predict(X)

    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X), expected)

    # The state holds no torch object, so skops only asks to trust the estimator class.
    data = sio.dumps(model)
    untrusted = sio.get_untrusted_types(data=data)
    assert untrusted == [f"mlengine.models.torch_mlp.{type(model).__name__}"]
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.loads(data)
    loaded = sio.loads(data, trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict(X), expected)
    assert loaded.best_iteration_ == model.best_iteration_
    # Serialising must not have detached the live model's network.
    np.testing.assert_array_equal(model.predict(X), expected)


@pytest.mark.parametrize(
    ("kind", "opset"), [("classifier", None), ("regressor", 17)], ids=["clf", "reg-opset17"]
)
def test_onnx_parity(fitted, blobs, kind: str, opset: int | None) -> None:
    X, _ = blobs
    model = fitted[kind]
    proto = model.to_onnx(opset_version=opset)
    if opset is not None:
        assert {o.domain: o.version for o in proto.opset_import}[""] == opset
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    X32 = X.astype(np.float32)
    for rows in (X32[:1], X32):  # dynamic batch dimension: 1 row and many rows
        (out,) = session.run(None, {"input": rows})
        if kind == "classifier":
            assert session.get_outputs()[0].name == "probabilities"
            # float32 graph vs float64 softmax in predict_proba
            np.testing.assert_allclose(out, model.predict_proba(rows), atol=1e-5)
        else:
            assert session.get_outputs()[0].name == "variable"
            assert out.shape == (len(rows), 1)
            # float32 de-standardisation of a target of scale ~1e3: relative tolerance
            np.testing.assert_allclose(out[:, 0], model.predict(rows), rtol=1e-5, atol=1e-2)


@pytest.mark.parametrize(
    ("rows", "sizes"), [(65, [65]), (129, [64, 65]), (64, [64]), (70, [64, 6])]
)
def test_a_trailing_single_row_batch_joins_the_previous_one(rows: int, sizes: list[int]) -> None:
    from mlengine.models.torch_mlp import _batches

    assert [len(b) for b in _batches(torch.arange(rows), 64)] == sizes
