"""The Optuna side: search space -> trial.suggest_*, the cross-validated objective, the study."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import optuna
import pandas as pd

from mlengine.config import ConfigError, ModelConfig, ParamSpec
from mlengine.metrics import METRICS, score
from mlengine.recovery import raise_if_stopping
from mlengine.threads import apply_thread_policy

log = logging.getLogger("mlengine")

# Trial steps are fold * STEP_STRIDE + round, so every trial reports fold k, round r at the
# same step and the pruner compares like with like, whatever the round budget of a trial.
STEP_STRIDE = 1_000_000
# Steps before which a trial is never pruned: the first rounds of fold 0 (and the whole of
# fold 0 for non-iterative families) are too early to judge a trial on.
PRUNING_WARMUP_STEPS = 10
# Small tables: fold scores and early-stopping losses on a few dozen rows are noisy, so
# good trials would be stopped by chance. Below SMALL_TABLE_ROWS training rows no trial is
# pruned before its third fold, and the early-stopping split holds at least MIN_STOP_ROWS
# rows (up to MAX_STOP_FRACTION of the fold).
SMALL_TABLE_ROWS = 2_000
MIN_STOP_ROWS = 100
MAX_STOP_FRACTION = 0.3
# The refit trains best_rounds x (its rows / the early-stopping fit's rows), at most this.
MAX_ROUND_SCALE = 2.0
# model=auto: each family's steps start at its own multiple, so the median pruner compares
# a trial only with trials of its own family (their losses are not comparable across).
FAMILY_STRIDE = 100 * STEP_STRIDE


def pruning_warmup(n_rows: int, warmup_folds: int | None = None) -> int:
    """The first step at which a trial may be pruned: after `warmup_folds` complete folds
    (`search.pruning_warmup_folds`; by default 2 on small tables, else 0)."""
    if warmup_folds is None:
        warmup_folds = 2 if n_rows < SMALL_TABLE_ROWS else 0
    return warmup_folds * STEP_STRIDE if warmup_folds else PRUNING_WARMUP_STEPS


def stopping_fraction(fraction: float, n_rows: int) -> float:
    """The early-stopping share of a fold: the family's, raised on small folds."""
    return max(fraction, min(MAX_STOP_FRACTION, MIN_STOP_ROWS / max(n_rows, 1)))


def scaled_rounds(best_rounds: int, n_rows: int, fit_rows: float | None) -> int:
    """Rounds for a refit on `n_rows` rows, from the best count on `fit_rows` rows."""
    if not fit_rows:
        return best_rounds
    return max(1, round(best_rounds * min(MAX_ROUND_SCALE, max(1.0, n_rows / fit_rows))))


class BudgetExhausted(optuna.TrialPruned):
    """The job's time budget ran out mid-trial: the trial stops as PRUNED, the sweep ends."""


class EstimatorFailure(Exception):
    """The estimator rejected a parameter combination: the trial fails, the sweep goes on."""


# What an estimator raises for parameters or data it cannot handle.
ESTIMATOR_ERRORS = (ValueError, TypeError, ArithmeticError, np.linalg.LinAlgError)
# mlengine's own modules whose code runs as part of a pipeline (transformers, estimators):
# their errors are the estimator's. Any other mlengine module raising is a bug.
PIPELINE_MODULES = ("mlengine.transformers", "mlengine.features", "mlengine.models.")


@contextlib.contextmanager
def estimator_errors(trial: optuna.Trial) -> Iterator[None]:
    """Wraps an estimator's fit or predict: what it raises fails the trial with its reason
    (EstimatorFailure); an error raised in mlengine's own code, such as a callback the
    estimator calls, is a bug and propagates, ending the sweep."""
    try:
        yield
    except ESTIMATOR_ERRORS as error:
        raise_if_stopping()  # a signal's KeyboardInterrupt swallowed by a library
        if _raised_by_mlengine(error):
            raise
        reason = f"{type(error).__name__}: {error}"
        # Read by the progress bar and the trial's MLflow run (tag fail_reason).
        trial.set_user_attr("fail_reason", reason[:5000])
        raise EstimatorFailure(reason) from error


def _raised_by_mlengine(error: BaseException) -> bool:
    """True when the innermost frame of the error is mlengine code outside the pipeline."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "") if tb is not None else ""
    return module.startswith("mlengine.") and not module.startswith(PIPELINE_MODULES)


def suggest_params(
    trial: optuna.Trial, space: dict[str, ParamSpec], task: str, prefix: str = ""
) -> dict:
    """Sample the space in declaration order; `when` refers to parameters declared before.

    `prefix` namespaces the trial's parameter names (model=auto: "xgboost.max_depth");
    the returned keys are the estimator's own.
    """
    params: dict[str, Any] = {}
    for key, spec in space.items():
        if spec.task not in (None, task):
            continue
        if spec.when and not all(_matches(params.get(k, _ABSENT), v) for k, v in spec.when.items()):
            continue
        name = prefix + key
        if spec.type == "categorical":
            params[key] = trial.suggest_categorical(name, list(spec.choices))
        elif spec.type == "int":
            params[key] = trial.suggest_int(
                name, int(spec.low), int(spec.high), step=int(spec.step or 1), log=spec.log
            )
        else:
            params[key] = trial.suggest_float(
                name, float(spec.low), float(spec.high), step=spec.step, log=spec.log
            )
    return params


def warm_start_params(model: ModelConfig, task: str, prefix: str = "") -> list[dict]:
    """The family's warm-start settings that apply to `task`, as trial parameters.

    A setting with a value outside the space (narrowed on the command line, say) is left
    out: the user's space wins over the family's defaults.
    """
    space, settings = model.search_space, []
    for entry in model.warm_start:
        if not all(space[k].contains(v) for k, v in entry.items()):
            continue
        kept = {prefix + k: v for k, v in entry.items() if space[k].task in (None, task)}
        if kept:
            settings.append(kept)
    return settings


_ABSENT = object()


def _matches(value: Any, allowed: Any) -> bool:
    return value in allowed if isinstance(allowed, list | tuple) else value == allowed


def make_estimator(model: ModelConfig, task: str, params: dict, seed: int) -> Any:
    """The family's estimator for the task with fixed arguments, sampled params and seed.

    A key with ``__`` (``estimator__C``) reaches a nested estimator through sklearn's
    ``set_params``, for families that wrap one (SVC inside CalibratedClassifierCV).
    """
    from hydra.utils import instantiate

    spec = model.classifier if task == "classification" else model.regressor
    if spec is None:
        raise ConfigError(f"model={model.name}", f"has no {task} estimator; pick another model")
    flat = {k: v for k, v in params.items() if "__" not in k}
    nested = {k: v for k, v in params.items() if "__" in k}
    try:
        estimator = instantiate({**spec, **flat}, _convert_="all")
        estimator.set_params(**nested)
    except Exception as error:  # noqa: BLE001 - Hydra wraps import and argument errors
        raise_if_stopping()  # a signal's KeyboardInterrupt swallowed inside an import
        raise ConfigError(f"model={model.name}", str(error).splitlines()[0]) from None
    apply_thread_policy(estimator, model.threads, spec)
    names = estimator.get_params(deep=False)
    if "random_state" in names and "random_state" not in spec:
        estimator.set_params(random_state=seed)
    if model.class_weight and task == "classification" and "class_weight" in names:
        estimator.set_params(class_weight=model.class_weight)
    return estimator


def fit_kwargs(model: ModelConfig, estimator: Any, y: pd.Series) -> dict:
    """Sample weights for classifiers without a class_weight argument (e.g. XGBoost).

    Regression ignores class_weight; a classifier that takes neither (kNN) is warned about
    once, since silently training unweighted would mislead.
    """
    from sklearn.base import is_classifier

    if (
        not model.class_weight
        or not is_classifier(estimator)
        or "class_weight" in estimator.get_params(deep=False)
    ):
        return {}
    if not _accepts_sample_weight(estimator):
        if model.name not in _WARNED_NO_WEIGHTS:
            _WARNED_NO_WEIGHTS.add(model.name)
            log.warning(
                "model.class_weight=%s is ignored: %s takes neither class_weight nor sample_weight",
                model.class_weight,
                type(estimator).__name__,
            )
        return {}
    from sklearn.utils.class_weight import compute_sample_weight

    return {"sample_weight": compute_sample_weight(model.class_weight, y)}


_WARNED_NO_WEIGHTS: set[str] = set()


def _accepts_sample_weight(estimator: Any) -> bool:
    import inspect

    parameters = inspect.signature(estimator.fit).parameters
    return "sample_weight" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def _is_xgboost(estimator: Any) -> bool:
    return any(c.__module__.startswith("xgboost") for c in type(estimator).__mro__)


def _xgboost_callback(on_round: Any) -> Any:
    """An XGBoost callback passing (round, validation loss) to `on_round` every round."""
    from xgboost.callback import TrainingCallback

    class ReportValidationLoss(TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
            if evals_log:  # the last metric is the one XGBoost early-stops on
                history = list(next(iter(evals_log.values())).values())[-1]
                on_round(epoch, float(history[-1]))
            return False

    return ReportValidationLoss()


def early_stopping_split(
    y: pd.Series,
    task: str,
    fraction: float,
    seed: int,
    *,
    groups: np.ndarray | None = None,
    time_ordered: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(fit, early-stopping) positions within a fold's training rows.

    It follows the dataset's split policy, or early stopping would peek across it: the
    latest rows when the rows are in time order, whole groups with a group column,
    otherwise a stratified (classification) random share.
    """
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    positions = np.arange(len(y))
    if time_ordered:
        cut = len(y) - max(1, int(round(fraction * len(y))))
        return positions[:cut], positions[cut:]
    if groups is not None and len(np.unique(groups)) >= 2:
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        return next(splitter.split(positions, groups=groups))
    stratify = y if task == "classification" and y.value_counts().min() >= 2 else None
    inner, stop = train_test_split(
        positions, test_size=fraction, random_state=seed, stratify=stratify
    )
    return inner, stop


class CrossValidatedObjective:
    """Objective for one study: the data, the folds and how to build the pipeline.

    Iterative families (``model.iterative``) early-stop in every fold and report their
    validation loss to the pruner as they train; the others report the running mean score
    after each fold. Either way the trial's user attributes record what it trained
    (``rounds_fold<k>``, ``rounds_trained``), so a pruned trial shows where it stopped.
    """

    def __init__(
        self,
        *,
        model: ModelConfig,
        make_preprocessor: Any,
        X: pd.DataFrame,
        y: pd.Series,
        task: str,
        metric: str,
        folds: list,
        seed: int,
        groups: np.ndarray | None = None,
        time_ordered: bool = False,
        warmup_steps: int = PRUNING_WARMUP_STEPS,
        prefix: str = "",
        step_offset: int = 0,
        deadline: Any = None,
        keep_oof: int = 0,
    ) -> None:
        self.model, self.make_preprocessor = model, make_preprocessor
        self.X, self.y, self.task, self.metric = X, y, task, metric
        self.folds, self.seed = folds, seed
        # The split policy of the folds, which the inner early-stopping split follows too.
        self.groups, self.time_ordered = groups, time_ordered
        self.sign = 1.0 if METRICS[metric].direction == "maximize" else -1.0
        self.warmup_steps = warmup_steps  # no pruning before this step (pruning_warmup)
        # model=auto: the family's parameter namespace and its own range of steps.
        self.prefix, self.step_offset = prefix, step_offset
        # () -> the time.monotonic() by which the sweep must end (None: no limit)
        self.deadline = deadline
        # search.ensemble: the out-of-fold predictions of the best `keep_oof` complete
        # trials (trial number -> rows x classes probabilities, or values), and their scores.
        self.keep_oof = keep_oof
        self.oof: dict[int, np.ndarray] = {}
        self.oof_values: dict[int, float] = {}

    def _report(self, trial: optuna.Trial, value: float, step: int, why: str) -> None:
        """Report to the pruner; stop the trial when it is pruned or the budget is spent.
        Without a pruner nothing is reported: each report is a write to the storage."""
        pruning = not isinstance(trial.study.pruner, optuna.pruners.NopPruner)
        if pruning:
            trial.report(value, self.step_offset + step)
        self._check_deadline(why)
        if pruning and step >= self.warmup_steps and trial.should_prune():
            raise optuna.TrialPruned(f"pruned {why}")

    def __call__(self, trial: optuna.Trial) -> float:
        from sklearn.base import clone
        from sklearn.pipeline import Pipeline

        params = suggest_params(trial, self.model.search_space, self.task, self.prefix)
        scores, best_rounds, trained = [], [], []  # trained: rounds run per fold
        fit_rows: list[int] = []  # rows each fold's model was fitted on (early stopping: fewer)
        oof: np.ndarray | None = None
        estimator = None  # built once (Hydra's instantiate is ~8 ms), cloned for each fold
        for fold, (train_idx, valid_idx) in enumerate(self.folds):
            X_tr, y_tr = self.X.iloc[train_idx], self.y.iloc[train_idx]
            X_va, y_va = self.X.iloc[valid_idx], self.y.iloc[valid_idx]
            try:
                if self.model.iterative:
                    pipeline, rounds, n_fit = self._fit_iterative(
                        trial, fold, params, X_tr, y_tr, trained
                    )
                    best_rounds.append(rounds)
                    fit_rows.append(n_fit)
                else:
                    if estimator is None:
                        estimator = make_estimator(self.model, self.task, params, self.seed)
                    pipeline = Pipeline(
                        [("preprocess", self.make_preprocessor()), ("model", clone(estimator))]
                    )
                    kwargs = self._prefixed(fit_kwargs(self.model, pipeline[-1], y_tr))
                    with estimator_errors(trial):
                        pipeline.fit(X_tr, y_tr, **kwargs)
                    fit_rows.append(len(X_tr))
                with estimator_errors(trial):
                    scores.append(score(self.metric, pipeline, X_va, y_va))
                    if self.keep_oof:
                        oof = self._out_of_fold(oof, pipeline, X_va, valid_idx)
            except optuna.TrialPruned:
                self._record_rounds(trial, trained)
                raise
            if not self.model.iterative:
                # The running mean in the metric's own terms, as the study's direction is.
                # Step fold * STEP_STRIDE: the warm-up spares fold 0 (small tables: folds 0
                # and 1), a single fold's score being too noisy to stop a trial on.
                self._report(
                    trial, float(np.mean(scores)), fold * STEP_STRIDE, f"after fold {fold + 1}"
                )
            else:
                self._check_deadline(f"after fold {fold + 1}")
        if oof is not None:
            self._keep(trial.number, oof, float(np.mean(scores)))
        # Each attribute is a write (and fsync) to the study's storage: only what is read.
        trial.set_user_attr("cv_std", float(np.std(scores)))
        if best_rounds:  # the refit scales the rounds by its rows over these (scaled_rounds)
            trial.set_user_attr("fit_rows", float(np.mean(fit_rows)))
            trial.set_user_attr("best_rounds", int(round(float(np.mean(best_rounds)))))
            self._record_rounds(trial, trained)
        return float(np.mean(scores))

    def _out_of_fold(
        self, oof: np.ndarray | None, pipeline: Any, X_va: pd.DataFrame, rows: np.ndarray
    ) -> np.ndarray | None:
        """`oof` with this fold's validation predictions in place (None once a fold's model
        misses a class, as its probabilities would not line up)."""
        if self.task == "classification":
            classes = np.unique(self.y)
            if not np.array_equal(np.asarray(pipeline.classes_), classes):
                return None
            values = pipeline.predict_proba(X_va)
            shape: tuple[int, ...] = (len(self.y), len(classes))
        else:
            values, shape = np.asarray(pipeline.predict(X_va), dtype=np.float64), (len(self.y),)
        if oof is None:
            oof = np.full(shape, np.nan)
        oof[rows] = values
        return oof

    def _keep(self, number: int, oof: np.ndarray, value: float) -> None:
        """Remember a complete trial's predictions, dropping the worst beyond `keep_oof`."""
        # A non-finite score ends the trial FAIL (sweep); a skipped fold leaves NaN rows.
        if not math.isfinite(value) or np.isnan(oof).any():
            return
        self.oof[number], self.oof_values[number] = oof, value
        if len(self.oof) > self.keep_oof:
            worst = min(self.oof_values, key=lambda n: self.sign * self.oof_values[n])
            del self.oof[worst], self.oof_values[worst]

    def warm_starts(self) -> list[dict[str, Any]]:
        """The family's warm-start settings for this task: a new study's first trials."""
        return warm_start_params(self.model, self.task, self.prefix)

    def resolve(self, params: dict[str, Any]) -> tuple[CrossValidatedObjective, dict[str, Any]]:
        """The objective that refits a trial, and the trial's parameters in its own names."""
        prefix = self.prefix
        return self, {k.removeprefix(prefix): v for k, v in params.items() if k.startswith(prefix)}

    def _check_deadline(self, why: str) -> None:
        deadline = self.deadline() if self.deadline else None
        if deadline is not None and time.monotonic() > deadline:
            raise BudgetExhausted(f"the time budget ran out {why}")

    @staticmethod
    def _record_rounds(trial: optuna.Trial, trained: list[int]) -> None:
        for fold, rounds in enumerate(trained):
            trial.set_user_attr(f"rounds_fold{fold}", rounds)
        if trained:
            trial.set_user_attr("rounds_trained", int(sum(trained)))

    def build_pipeline(self, params: dict, *, n_rounds: int | None = None) -> Any:
        """Preprocessing + estimator; `n_rounds` fixes an iterative family's round count."""
        from sklearn.pipeline import Pipeline

        estimator = make_estimator(self.model, self.task, params, self.seed)
        if n_rounds is not None and self.model.iterative:
            estimator.set_params(**{self.model.iterative.param: n_rounds})
            if "early_stopping_rounds" in estimator.get_params(deep=False):
                # The round count is decided; an inner holdout would only waste rows.
                estimator.set_params(early_stopping_rounds=None)
        return Pipeline([("preprocess", self.make_preprocessor()), ("model", estimator)])

    def refit(
        self,
        params: dict,
        best_rounds: int | None,
        X: pd.DataFrame,
        y: pd.Series,
        fit_rows: float | None = None,
    ) -> Any:
        """The pipeline fitted on (X, y) with the rounds CV found best.

        Iterative families train the best round count scaled to the rows: a model fitted
        on more rows than the early-stopping fit (`fit_rows`) needs more rounds.
        """
        rounds = None if best_rounds is None else scaled_rounds(best_rounds, len(X), fit_rows)
        pipeline = self.build_pipeline(params, n_rounds=rounds)
        return pipeline.fit(X, y, **self._prefixed(fit_kwargs(self.model, pipeline[-1], y)))

    @staticmethod
    def _prefixed(kwargs: dict) -> dict:
        return {f"model__{k}": v for k, v in kwargs.items()}

    def _fit_iterative(
        self,
        trial: optuna.Trial,
        fold: int,
        params: dict,
        X_tr: pd.DataFrame,
        y_tr: pd.Series,
        trained: list[int],
    ) -> tuple[Any, int]:
        """Early stopping on an inner split of the fold's training rows, pruned as it goes.

        Appends the rounds this fold ran to `trained` (updated every round, so a pruned
        fold leaves its partial count). Returns the fitted pipeline, the best round count
        and the rows it was fitted on.
        """
        from sklearn.pipeline import Pipeline

        settings = self.model.iterative
        groups = None if self.groups is None else self.groups[self.folds[fold][0]]
        inner, stop = early_stopping_split(
            y_tr,
            self.task,
            stopping_fraction(settings.validation_fraction, len(y_tr)),
            self.seed,
            groups=groups,
            time_ordered=self.time_ordered,
        )
        X_in, X_es = X_tr.iloc[inner], X_tr.iloc[stop]
        y_in, y_es = y_tr.iloc[inner], y_tr.iloc[stop]
        with estimator_errors(trial):
            preprocessor = self.make_preprocessor().fit(X_in, y_in)
            Xt_in, Xt_es = preprocessor.transform(X_in), preprocessor.transform(X_es)
        estimator = make_estimator(self.model, self.task, params, self.seed)
        trained.append(0)

        def on_round(round_: int, loss: float) -> bool:
            trained[-1] = round_ + 1
            if round_ % settings.report_every:
                return False
            self._report(
                trial,
                -self.sign * loss if math.isfinite(loss) else float("nan"),
                fold * STEP_STRIDE + round_,
                f"at fold {fold + 1}, round {round_ + 1}",
            )
            return False

        kwargs = fit_kwargs(self.model, estimator, y_in)
        eval_set = [(Xt_es, y_es)]
        estimator.set_params(early_stopping_rounds=settings.early_stopping_rounds)
        if _is_xgboost(estimator):
            if "sample_weight" in kwargs:  # the validation loss weighs classes alike
                kwargs["sample_weight_eval_set"] = [
                    fit_kwargs(self.model, estimator, y_es)["sample_weight"]
                ]
            estimator.set_params(callbacks=[_xgboost_callback(on_round)])
            try:
                with estimator_errors(trial):
                    estimator.fit(Xt_in, y_in, eval_set=eval_set, verbose=False, **kwargs)
            finally:
                estimator.set_params(callbacks=None)  # a fitted model holds no trial
            best = int(estimator.best_iteration)
            trained[-1] = int(estimator.get_booster().num_boosted_rounds())
        else:  # estimators with epoch callbacks, e.g. mlengine.models.torch_mlp
            with estimator_errors(trial):
                estimator.fit(Xt_in, y_in, eval_set=eval_set, callbacks=[on_round], **kwargs)
            best = int(estimator.best_iteration_)
            trained[-1] = int(getattr(estimator, "n_iter_", trained[-1]))
        pipeline = Pipeline([("preprocess", preprocessor), ("model", estimator)])
        return pipeline, best + 1, len(inner)
