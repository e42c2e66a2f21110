"""run(cfg): the only orchestrator. Data -> EDA -> sweep -> refit -> holdout -> export."""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from mlengine.budget import Budget, StopAtDeadline, export_reserve
from mlengine.config import Config, MlengineError, draws_plots
from mlengine.validation import validate

log = logging.getLogger("mlengine")
PLOTS_RESERVE_S = 3.0  # what Optuna's four plots of a study take, kept out of the sweep


@dataclass
class RunResult:
    metric: str
    best_params: dict[str, Any]
    cv_score: float
    cv_std: float
    holdout: dict[str, float]
    run_id: str
    experiment_id: str
    study_name: str
    n_trials: int  # trials finished in the study, this run and earlier ones
    output_dir: Path
    tracking_uri: str = ""
    holdout_intervals: dict[str, list[float]] = field(default_factory=dict)  # metric -> [lo, hi]
    holdout_line: str = ""  # the console's holdout line, intervals included
    data_digests: dict[str, str] = field(default_factory=dict)  # split -> MLflow dataset digest
    importance: list[dict[str, Any]] = field(default_factory=list)  # holdout permutation
    family: str = ""  # the best trial's model family (model=auto searches several)
    ensemble: dict[str, float] = field(default_factory=dict)  # member -> weight (ensemble)
    trials_per_family: dict[str, int] = field(default_factory=dict)
    refit: str = "train"  # export.refit: all (training + holdout rows) or train
    n_rows_fit: int = 0  # rows the exported model was fitted on
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    model_path: Path | None = None
    model_uri: str | None = None
    onnx_path: Path | None = None  # the ONNX MLflow model folder, where it passed parity
    onnx_reason: str | None = None
    served_path: Path | None = None  # the form to serve: ONNX where it passed, else native
    registration: dict[str, Any] | None = None  # export.registered_model: version, champion
    dropped_columns: list[str] = field(default_factory=list)
    eda: dict[str, Any] | None = None
    pipeline: Any = field(default=None, repr=False)  # the fitted, exported Pipeline
    delivery: Any = field(default=None, repr=False)  # mlengine.delivery.Delivery

    def one_line(self) -> str:
        holdout = ", ".join(f"{k}={v:.4f}" for k, v in self.holdout.items())
        return f"cv {self.metric}={self.cv_score:.4f}; holdout {holdout}"

    def leaderboard_row(self) -> dict[str, Any]:
        """This job's entries in a multirun's leaderboard (mlengine/leaderboard.py)."""
        return {
            "metric": self.metric,
            "holdout": self.holdout.get(self.metric, float("nan")),
            "holdout_ci_low": self.holdout_intervals.get(self.metric, ["", ""])[0],
            "holdout_ci_high": self.holdout_intervals.get(self.metric, ["", ""])[1],
            "cv": self.cv_score,
            "trials": self.n_trials,
            "run_id": self.run_id,
            "experiment_id": self.experiment_id,
            "tracking_uri": self.tracking_uri,
        }

    def to_json(self) -> str:
        from mlengine.tracking import redact

        values = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("pipeline", "delivery")
        }
        values["tracking_uri"] = redact(self.tracking_uri)  # the file keeps no password
        return json.dumps(values, default=str, indent=2)


def run(
    cfg: DictConfig,
    output_dir: Path,
    overrides: list[str] | tuple = (),
    frame: pd.DataFrame | None = None,
    started: float | None = None,
    sweep_id: str | None = None,
) -> RunResult | None:
    """Run one job; returns None when `eda.only` stops after the report.

    `started` (time.monotonic()) is when the job began, for the time budget: the CLI
    passes its process start, so imports count against `search.timeout` too. `sweep_id`
    names the multirun the job belongs to (a tag its runs are filtered by).
    """
    from mlengine import data, recovery, samplers, studies, tracking
    from mlengine.metrics import METRICS, default_metric
    from mlengine.studies import PARENT_RUN_KEY

    conf: Config = validate(cfg)
    budget = Budget(conf.search.timeout, started if started is not None else time.monotonic())
    with budget.stage("setup"):
        tracker = tracking.Tracker(conf.tracking.uri, conf.experiment_name, Path(conf.paths.root))
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    with budget.stage("load"):
        ds = data.load_dataset(conf.dataset, frame)
        split = data.holdout_split(ds, conf.dataset.test_size, conf.seed)
    if ds.n_missing_target:
        log.warning("Dropped %d rows whose target '%s' is missing", ds.n_missing_target, ds.y.name)
    X_train, X_test, y_train, y_test = split
    metric = conf.search.metric or default_metric(ds.task, ds.y.nunique())
    if METRICS[metric].task != ds.task:
        raise MlengineError(
            f"search.metric={metric} is a {METRICS[metric].task} metric but the "
            f"task is {ds.task}; pick a {ds.task} metric or set dataset.task"
        )
    data.check_enough_rows(y_train, ds.task, conf.search.cv_folds)

    tags = {
        "mlengine.dataset": ds.name,
        "mlengine.model": conf.model.name,
        "mlengine.task": ds.task,
        "mlengine.output_dir": str(output_dir),
        recovery.WORKER_KEY: recovery.worker_id(),
    }
    if sweep_id:
        tags["mlengine.sweep"] = sweep_id
    if recovery.close_stale_runs(tracker.client, tracker.experiment_id):
        log.warning("Closed MLflow runs left RUNNING by a killed process")
    commit = tracking.git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    run_name = f"{conf.model.name}-{ds.name}"
    if conf.eda.only:  # a report, no study
        with tracker.parent_run(tracker.open_parent(run_name, tags | {"mlengine.run_kind": "eda"})):
            _log_setup(tracker, cfg, conf, overrides, ds, output_dir)
            with budget.stage("eda"):
                _run_eda(conf, ds, X_train, y_train, tracker, output_dir, overrides)
        return None
    name = _study_name(conf, ds, metric)
    grid = samplers.grid_space(conf.model, ds.task) if conf.search.sampler == "grid" else None
    tags |= {"mlengine.study": name, "mlengine.run_kind": "study"}
    tracker.trial_tags = {
        k: v for k, v in tags.items() if k.startswith("mlengine.") and k != "mlengine.output_dir"
    } | {"mlengine.run_kind": "trial"}
    # One parent run per study, also when several processes start it at once.
    with studies.slot(studies.storage_url(conf.search, default_journal(conf)), name):
        run_id = tracker.open_parent(run_name, tags, resume=tracker.find_study_run(name))
    with tracker.parent_run(run_id):
        tracker.start_trial_writer()
        _log_setup(tracker, cfg, conf, overrides, ds, output_dir)
        with budget.stage("eda"):
            report = _run_eda(conf, ds, X_train, y_train, tracker, output_dir, overrides)
        extra_drop = [
            *ds.drop_columns,
            *(report.columns_to_drop() if report and conf.features.select == "eda" else []),
        ]
        advice = {a.family: a.score for a in report.model_advice.ranking} if report else {}
        handle = _open_job_study(conf, ds, metric, name, grid)
        handle.study.set_user_attr(PARENT_RUN_KEY, run_id)  # the study names its run too
        tracker.log_params(_study_params(conf, handle, metric))
        result = _sweep_refit_export(
            conf,
            ds,
            metric,
            extra_drop,
            X_train,
            X_test,
            y_train,
            y_test,
            tracker,
            output_dir,
            budget,
            advice,
            handle,
            [{"column_a": p.column_a, "column_b": p.column_b} for p in report.redundant_pairs]
            if report
            else [],
        )
        result.run_id, result.experiment_id = run_id, tracker.experiment_id
        result.tracking_uri = tracker.uri
        result.eda = report.to_dict() if report else None
        result.timings = dict(budget.stages)
        tracker.log_metrics({f"time_{stage}_s": s for stage, s in budget.stages.items()})
    (output_dir / "result.json").write_text(result.to_json())
    _print_summary(result, tracker.uri, budget)
    return result


def default_journal(conf: Config) -> Path:
    return Path(conf.paths.root) / "optuna" / "journal.log"


def _study_prefix(conf: Config, ds: Any) -> str:
    return f"{conf.experiment_name}-{ds.name}-{conf.model.name}"


def _study_name(conf: Config, ds: Any, metric: str) -> str:
    """Same experiment, data, model, space and metric: the same (resumable) study."""
    from mlengine import studies

    return conf.search.study_name or studies.study_name(
        _study_prefix(conf, ds),
        conf.model,
        conf.features,
        conf.dataset,
        metric,
        conf.search.cv_folds,
        conf.seed,
        ds.fingerprint,
    )


def _sampler_seed(conf: Config) -> int:
    """conf.seed; on an RDB storage, which many processes share, offset by this process's
    id: identically seeded samplers would suggest the same points (such a study is not
    replayable anyway, its workers interleave)."""
    import os

    shared = conf.search.storage and not conf.search.storage.startswith("journal:")
    return conf.seed + os.getpid() % 100_000 if shared else conf.seed


def _open_job_study(
    conf: Config, ds: Any, metric: str, name: str, grid: dict[str, list] | None
) -> Any:
    """The job's study: resumed when this experiment, data, model and space ran before."""
    from mlengine import recovery, studies
    from mlengine.metrics import METRICS

    handle = studies.open_study(
        conf.search,
        name,
        METRICS[metric].direction,
        _sampler_seed(conf),
        default_journal(conf),
        grid,
    )
    if recovery.fail_stale_trials(handle):
        log.warning("Marked trials of a killed process FAIL in study %s", name)
    done = studies.counted_trials(handle.study)
    if not handle.created:
        print(f"Resuming study {name}: {done} of {conf.search.n_trials} trials done")
    elif siblings := studies.sibling_studies(handle, _study_prefix(conf, ds)):
        print(
            f"New study {name}: the data, search space or metric differ from the earlier "
            f"{', '.join(siblings[-3:])} (the name ends in their fingerprint)"
        )
    return handle


def _study_params(conf: Config, handle: Any, metric: str) -> dict[str, Any]:
    """What the parent run records about its study."""
    from mlengine.tracking import redact

    return {
        "study.name": handle.name,
        "study.storage": redact(handle.url),
        "study.sampler": conf.search.sampler,
        "study.pruner": conf.search.pruner,
        "study.direction": handle.study.direction.name.lower(),
        "study.metric": metric,
    }


def _log_setup(
    tracker: Any, cfg: DictConfig, conf: Config, overrides: Any, ds: Any, output_dir: Path
) -> None:
    """Config (as artifact and flat params), overrides, versions and the data fingerprint."""
    from mlengine import tracking

    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved.pop("hydra", None)
    config_path = output_dir / "config.yaml"
    config_path.write_text(tracking.redact(OmegaConf.to_yaml(resolved)))
    tracker.log_artifact(config_path)
    params = tracking.flatten(resolved)
    params.update({f"version.{k}": v for k, v in tracking.package_versions().items()})
    params.update(
        {
            "data.fingerprint": ds.fingerprint,
            "data.rows": len(ds.X),
            "data.columns": ds.X.shape[1],
            "data.task": ds.task,
            "data.dropped_missing_target": ds.n_missing_target,
        }
    )
    tracker.log_params(params)
    tracker.log_artifact(ds.schema.write(output_dir))
    tracker.set_tags(
        {
            "mlengine.overrides": tracking.redact(" ".join(overrides)) or "(none)",
            "mlengine.seed": str(conf.seed),
        }
    )


def _run_eda(
    conf: Config,
    ds: Any,
    X: pd.DataFrame,
    y: pd.Series,
    tracker: Any,
    output_dir: Path,
    overrides: Any = (),
) -> Any:
    """EDA on the training split (the holdout stays unseen); may stop the run."""
    if not conf.eda.enabled:
        return None
    from mlengine.eda import EdaSettings, run_eda

    # The file's row order: counters, panels stored entity by entity and rows sorted by
    # outcome are seen in it, and a random split shuffles the training rows.
    X, y = X.sort_index(), y.sort_index()

    plots = conf.eda.draws_plots(conf.search.timeout)
    settings = EdaSettings.from_config({**asdict(conf.eda), "plots": plots})
    report = run_eda(
        X,
        y,
        ds.task,
        settings,
        seed=conf.seed,
        column_types={c: ds.column_types[c] for c in X.columns},
        n_missing_target=ds.n_missing_target,
    )
    suggested = report.suggested_overrides()
    command = advice_command(overrides, suggested) if suggested else None
    eda_dir = output_dir / "eda"
    for path in report.write(eda_dir, command):
        tracker.log_artifact(path, "eda")
    selecting = conf.features.select == "eda"
    print(report.to_markdown() if conf.eda.only else report.console_summary(selecting))
    if command and not conf.eda.only:
        print(f"  apply the advice: {command}")
    if not plots and conf.eda.plots is None:
        print(f"  plots skipped: search.timeout={conf.search.timeout:g}s is short (eda.plots=true)")
    failures = report.failures(conf.eda.fail_on)
    if failures:
        reasons = "; ".join(f"{f.check}: {f.message}" for f in failures)
        raise MlengineError(f"EDA check failed (eda.fail_on={list(conf.eda.fail_on)}): {reasons}")
    return report


def advice_command(overrides: Any, suggested: list[str]) -> str:
    """This run's command with the EDA's overrides in place of any of the same keys, quoted
    for a POSIX shell, passwords redacted."""
    import shlex

    from mlengine.tracking import redact

    def key(override: str) -> str:
        return override.split("=", 1)[0].lstrip("+~")

    replaced = {key(o) for o in suggested}
    kept = [o for o in overrides if key(o) not in replaced]
    return redact(shlex.join(["mlengine", *kept, *suggested]))


def _sweep_refit_export(
    conf: Config,
    ds: Any,
    metric: str,
    extra_drop: list[str],
    X_train: pd.DataFrame,
    X_test: pd.DataFrame,
    y_train: pd.Series,
    y_test: pd.Series,
    tracker: Any,
    output_dir: Path,
    budget: Budget,
    advice: dict[str, float],
    handle: Any,
    redundant: list[dict[str, Any]],
) -> RunResult:
    import optuna

    from mlengine import features, lineage, studies, sweep
    from mlengine.studies import counted_trials
    from mlengine.workers import WorkerJob

    digests = lineage.log_splits(
        ds.name,
        lineage.source_of(ds.name, ds.source),
        {"training": (X_train, y_train), "holdout": (X_test, y_test)},
    )
    columns = features.select_columns(
        {c: ds.column_types[c] for c in X_train.columns}, conf.features, extra_drop
    )
    dropped = [c for c in X_train.columns if c not in columns]
    X_train, X_test = X_train[list(columns)], X_test[list(columns)]
    reasons = features.drop_reasons(dropped, ds.column_types, conf.features)
    schema = ds.schema.dropping(reasons)
    tracker.log_artifact(schema.write(output_dir))
    export_seconds = export_reserve(conf.export.onnx) if conf.export.enabled else 0.0
    if draws_plots(conf.search.plots, conf.search.timeout):
        export_seconds += PLOTS_RESERVE_S
    stop_at_deadline = StopAtDeadline(budget, conf.search.cv_folds, export_seconds)
    objective = build_objective(
        conf, ds, columns, X_train, y_train, metric, stop_at_deadline, advice
    )
    study, name = handle.study, handle.name
    if conf.search.retry_failed and (retries := sweep.enqueue_retries(study)):
        print(f"Retrying {retries} interrupted trial(s) once (search.retry_failed)")
    if not study.get_trials(deepcopy=False):
        for params in objective.warm_starts():
            study.enqueue_trial(params, skip_if_exists=True)
    if synced := tracker.sync_trials(study, metric):
        log.warning("Wrote the MLflow runs of %d trials a killed process left unlogged", synced)
    rerun = counted_trials(study) >= conf.search.n_trials  # nothing left to run
    with budget.stage("sweep"):
        workers = WorkerJob(
            conf=conf,
            ds=ds,
            columns=columns,
            X=X_train,
            y=y_train,
            metric=metric,
            advice=advice,
            study_name=name,
            direction=study.direction.name.lower(),
            grid=handle.grid,
            parent_id=tracker.parent_id,
            trial_tags=tracker.trial_tags,
            budget_seconds=conf.search.timeout,
            started=budget.started,
            export_seconds=export_seconds,
        )
        if not conf.export.only:
            _sweep(conf, handle, objective, metric, tracker, stop_at_deadline, workers, output_dir)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise MlengineError(
            f"No trial of study '{name}' completed "
            f"({counted_trials(study)} failed or pruned); nothing exported"
        )
    best = study.best_trial
    family, _ = objective.resolve(best.params)
    result = RunResult(
        metric=metric,
        best_params=dict(best.params),
        cv_score=best.value,
        cv_std=best.user_attrs.get("cv_std", float("nan")),
        holdout={},
        holdout_line="Holdout: evaluated by the worker that exports",
        run_id="",
        experiment_id="",
        study_name=name,
        n_trials=counted_trials(study),
        output_dir=output_dir,
        family=family.model.name,
        data_digests=digests,
        dropped_columns=dropped,
        trials_per_family=_trials_per_family(study, conf.model.name),
        refit=conf.export.refit,
    )
    # On RDB storages a dead worker's trial is failed within the grace period.
    patience = (
        conf.search.grace_period + 2 * conf.search.heartbeat_interval if handle.beats else None
    )
    if not (conf.export.only or studies.claim_export(handle, patience)):
        print(
            f"Study {name} is complete ({result.n_trials} trials) and "
            + (
                "was exported at this count by an earlier run; export.only=true exports it again"
                if rerun
                else "another worker exports it (the first to end with no trial running)"
            )
        )
        return result
    if draws_plots(conf.search.plots, conf.search.timeout):
        with budget.stage("plots"):
            _log_study_plots(study, tracker, output_dir)
    members = _members(conf, objective, study, y_train, metric, ds.task)
    with budget.stage("refit"):
        pipeline = _fit(objective, members, X_train, y_train)
    with budget.stage("evaluate"):
        report = _evaluate(conf, ds.task, pipeline, X_test, y_test, metric, output_dir, redundant)
        _log_evaluation(tracker, report, output_dir / "holdout")
    if conf.export.refit == "all":  # the holdout was scored; now every row trains
        with budget.stage("refit"):
            X_all, y_all = pd.concat([X_train, X_test]), pd.concat([y_train, y_test])
            pipeline = _fit(objective, members, X_all, y_all)
    n_fit = len(X_train) + (len(X_test) if conf.export.refit == "all" else 0)
    result.holdout = report.metrics
    result.holdout_intervals = {k: list(v) for k, v in report.intervals.items()}
    result.holdout_line = report.line()
    result.importance = report.to_dict()["importance"]
    result.n_rows_fit, result.pipeline = n_fit, pipeline
    if len(members) > 1:
        result.ensemble = {
            f"trial {t.number} ({objective.resolve(t.params)[0].model.name})": w for t, w in members
        }
    tracker.log_params(
        {f"best.{k}": v for k, v in best.params.items()}
        | {
            "best.trial": best.number,
            "best.rounds": best.user_attrs.get("best_rounds", ""),
            "best.family": family.model.name,
            "export.rows": n_fit,
        }
    )
    tracker.log_metrics({f"cv_{metric}": best.value, f"cv_{metric}_std": result.cv_std})
    if conf.export.enabled:
        with budget.stage("export"):
            _export(conf, result, X_train, X_test, ds, tracker, schema)
    return result


def _evaluate(
    conf: Config,
    task: str,
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series,
    metric: str,
    output_dir: Path,
    redundant: list[dict[str, Any]],
) -> Any:
    from mlengine.evaluation import evaluate_holdout

    settings = conf.evaluation
    return evaluate_holdout(
        task,
        pipeline,
        X,
        y,
        metric,
        output_dir / "holdout" if settings.plots else None,
        seed=conf.seed,
        intervals=settings.intervals,
        level=settings.level,
        resamples=settings.resamples,
        importance=settings.importance,
        redundant_pairs=redundant,
    )


def _log_evaluation(tracker: Any, report: Any, folder: Path) -> None:
    """Holdout metrics with their intervals, the plots and importance table, holdout.json."""
    tracker.log_metrics(report.metric_values())
    tracker.log_params(
        {"holdout.rows": report.rows, "holdout.ci_level": report.level}
        | ({"holdout.ci_resamples": report.resamples} if report.intervals else {})
    )
    folder.mkdir(parents=True, exist_ok=True)
    summary = folder / "holdout.json"
    summary.write_text(json.dumps(report.to_dict(), indent=2))
    for path in [*report.plots, summary, folder / "permutation_importance.csv"]:
        if path.exists():
            tracker.log_artifact(path, "holdout")


def _log_study_plots(study: Any, tracker: Any, output_dir: Path) -> None:
    from mlengine.study_plots import write_plots

    paths, skipped = write_plots(study, output_dir / "optuna")
    for path in paths:
        tracker.log_artifact(path, "optuna")
    for name, reason in skipped.items():
        log.info("Optuna plot %s skipped: %s", name, reason)


def _members(
    conf: Config, objective: Any, study: Any, y: pd.Series, metric: str, task: str
) -> list[tuple[Any, float]]:
    """The trials the exported model is made of, with their weights: the best trial, or
    the ensemble selection of search.ensemble trials when a blend scores better."""
    import numpy as np

    from mlengine import ensemble

    best = [(study.best_trial, 1.0)]
    if conf.search.ensemble < 2:
        return best
    classes = np.unique(y) if task == "classification" else None
    weights = ensemble.select(
        objective.oof, objective.oof_values, y.to_numpy(), metric, conf.search.ensemble, classes
    )
    if len(weights) < 2:
        return best
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    return [(trials[number], weight) for number, weight in weights.items()]


def _fit(objective: Any, members: list[tuple[Any, float]], X: pd.DataFrame, y: pd.Series) -> Any:
    """Each member refit on (X, y) as its trial was configured; one model, or their blend.

    Fitted, a member predicts on one thread: a served model answers one request per worker
    thread, and threads only add start-up cost on one row.
    """
    from mlengine.ensemble import WeightedEnsemble

    fitted = []
    for trial, _ in members:
        family, params = objective.resolve(trial.params)
        rounds, fit_rows = trial.user_attrs.get("best_rounds"), trial.user_attrs.get("fit_rows")
        pipeline = family.refit(params, rounds, X, y, fit_rows)
        if family.model.threads:
            pipeline[-1].set_params(**{family.model.threads: 1})
        fitted.append(pipeline)
    if len(fitted) == 1:
        return fitted[0]
    return WeightedEnsemble(fitted, [weight for _, weight in members])


def build_objective(
    conf: Config,
    ds: Any,
    columns: dict[str, str],
    X: pd.DataFrame,
    y: pd.Series,
    metric: str,
    stop_at_deadline: StopAtDeadline,
    advice: dict[str, float],
) -> Any:
    """The study's objective: one family's, or model=auto's over several families."""
    from mlengine import auto, data, ensemble, features, search

    folds = data.cv_folds(ds, X, y, conf.search.cv_folds, conf.seed)
    grouped = ds.groups is not None and ds.time is None

    def make_objective(model: Any, prefix: str = "", step_offset: int = 0) -> Any:
        def make_preprocessor() -> Any:
            return features.build_preprocessor(
                columns, model, conf.features, ds.date_formats, ds.missing_markers
            )

        return search.CrossValidatedObjective(
            model=model,
            make_preprocessor=make_preprocessor,
            X=X,
            y=y,
            task=ds.task,
            metric=metric,
            folds=folds,
            seed=conf.seed,
            groups=ds.groups.loc[X.index].to_numpy() if grouped else None,
            time_ordered=ds.time is not None,
            warmup_steps=search.pruning_warmup(len(X), conf.search.pruning_warmup_folds),
            prefix=prefix,
            step_offset=step_offset,
            deadline=stop_at_deadline.deadline,
            keep_oof=ensemble.CANDIDATES_PER_MEMBER * conf.search.ensemble
            if conf.search.ensemble > 1
            else 0,
        )

    if not conf.model.families:
        return make_objective(conf.model)
    from mlengine.config import config_dir

    loaded = [auto.load_family(name, config_dir()) for name in conf.model.families]
    families = auto.ranked(auto.applicable(loaded, ds.task), advice)
    if not families:
        raise MlengineError(f"model={conf.model.name}: none of its families fits {ds.task}")
    return auto.AutoObjective(auto.family_objectives(families, make_objective))


def _trials_per_family(study: Any, model_name: str) -> dict[str, int]:
    from collections import Counter

    from mlengine.auto import FAMILY_PARAM

    trials = study.get_trials(deepcopy=False)
    return dict(
        Counter(t.params.get(FAMILY_PARAM, model_name) for t in trials if t.state.is_finished())
    )


def _sweep(
    conf: Config,
    handle: Any,
    objective: Any,
    metric: str,
    tracker: Any,
    stop: StopAtDeadline,
    job: Any,
    output_dir: Path,
) -> None:
    """This process's trials and, with search.n_jobs=K, those of K - 1 worker processes."""
    from mlengine import search, studies, sweep, threads, workers
    from mlengine.progress import SweepProgress

    remaining = conf.search.n_trials - studies.counted_trials(handle.study)
    if remaining <= 0:
        return
    extra = min(conf.search.n_jobs, remaining) - 1
    started = workers.start(job, extra, output_dir / "workers") if extra > 0 else []
    try:
        with (
            SweepProgress(handle.study, remaining, metric) as progress,
            threads.shared_by(extra + 1),
        ):
            sweep.run_trials(
                handle,
                objective,
                conf.search.n_trials,
                catch=(search.EstimatorFailure,),
                callbacks=[lambda s, t: tracker.log_trial_soon(t, metric), progress, stop],
                should_stop=lambda: stop.stopped,
            )
            for problem in workers.wait(started):
                log.warning("A sweep worker failed: %s", problem)
    except BaseException:
        workers.stop(started)
        raise
    finally:
        tracker.flush()
    for problem in tracker.write_errors:
        log.warning("Trials' MLflow runs were not written (the next run writes them): %s", problem)
    if started:
        tracker.sync_trials(handle.study, metric)  # a worker that died left some unlogged


def _export(
    conf: Config,
    result: RunResult,
    X_train: pd.DataFrame,
    X_holdout: pd.DataFrame,
    ds: Any,
    tracker: Any,
    schema: Any,
) -> None:
    from mlengine.delivery import deliver
    from mlengine.metrics import METRICS
    from mlengine.model_card import build_card, write_card

    delivery = deliver(
        result.pipeline,
        X_train,
        X_holdout,
        ds.task,
        result.output_dir,
        conf.export.name,
        schema=schema,
        unused_columns=result.dropped_columns,
        onnx=conf.export.onnx,
    )
    result.delivery = delivery
    native, onnx, served = delivery.form("native"), delivery.form("onnx"), delivery.served
    result.model_path, result.model_uri = native.path, native.model_uri
    result.onnx_path = onnx.path if onnx else None
    result.onnx_reason = delivery.onnx_reason
    result.served_path = served.path
    tracker.set_tags(
        {"mlengine.model_path": str(native.path), "mlengine.served_path": str(served.path)}
        | ({"mlengine.onnx_reason": delivery.onnx_reason} if delivery.onnx_reason else {})
    )
    if delivery.onnx_reason and conf.export.onnx:
        log.warning("No ONNX form: %s", delivery.onnx_reason)
    tracker.log_metrics(_form_metrics(delivery))
    if conf.export.registered_model:
        from mlengine.registry import register

        registration = register(
            served.model_uri,
            conf.export.registered_model,
            run_id=tracker.parent_id,
            metric=result.metric,
            score=result.holdout.get(result.metric, float("nan")),
            direction=METRICS[result.metric].direction,
            fingerprint=ds.fingerprint,
        )
        result.registration = vars(registration)
        tracker.set_tags({"mlengine.registered_version": registration.version})
        print(
            f"Registered {registration.name} v{registration.version}"
            f"{' as champion' if registration.promoted else ''}: {registration.reason}"
        )
    card = build_card(
        task=ds.task,
        fingerprint=ds.fingerprint,
        schema=schema,
        metric=result.metric,
        family=result.family,
        best_params=result.best_params,
        cv={result.metric: result.cv_score, f"{result.metric}_std": result.cv_std},
        holdout=result.holdout,
        intervals=result.holdout_intervals,
        digests=result.data_digests,
        importance=result.importance,
        delivery=delivery,
        registration=result.registration,
        run_id=tracker.parent_id,
    )
    for form in delivery.forms:
        paths = write_card(card, form.path)
    for path in paths:
        tracker.log_artifact(path, "model_card")


def _form_metrics(delivery: Any) -> dict[str, float]:
    """Per form: size and serving-environment MB, 1-row and 1,000-row latency; parity."""
    metrics: dict[str, float] = {}
    for form in delivery.forms:
        metrics |= {
            f"{form.kind}_size_mb": form.size_bytes / 1e6,
            f"{form.kind}_serving_env_mb": form.serving_env_bytes / 1e6,
            f"{form.kind}_1row_ms": form.latency_1row_ms,
            f"{form.kind}_1000rows_ms": form.latency_1000rows_ms,
        }
        if form.parity:
            metrics |= {
                f"{form.kind}_parity_max_abs_diff": form.parity["max_abs_diff"],
                f"{form.kind}_parity_rows_within_tol": form.parity["rows_within_tol"],
            }
            if form.parity["label_agreement"] is not None:
                metrics[f"{form.kind}_parity_label_agreement"] = form.parity["label_agreement"]
    return metrics


def _print_summary(result: RunResult, uri: str, budget: Budget) -> None:
    trials = ", ".join(f"{family} {n}" for family, n in result.trials_per_family.items())
    lines = [
        "",
        f"Best CV {result.metric}: {result.cv_score:.4f} (+/- {result.cv_std:.4f}) "
        f"over {result.n_trials} trials of study {result.study_name}",
        result.holdout_line,
        f"Best params ({result.family}): {result.best_params}",
        f"Trials per family: {trials}",
        *(
            ["Ensemble: " + ", ".join(f"{m} {w:.2f}" for m, w in result.ensemble.items())]
            if result.ensemble
            else []
        ),
        f"Time: {budget.summary()}",
    ]
    if result.model_path:
        lines.append(
            f"Exported model: refit on all {result.n_rows_fit} rows (training + holdout); "
            "the holdout metrics are the train-split model's"
            if result.refit == "all"
            else f"Exported model: the train-split model ({result.n_rows_fit} rows)"
        )
        lines.append(f"Model: {result.model_path}  (MLflow: {result.model_uri})")
    if result.onnx_path:
        lines.append(f"ONNX model: {result.onnx_path}  (passed parity on the holdout rows)")
    elif result.onnx_reason:
        lines.append(f"No ONNX form: {result.onnx_reason}")
    if result.served_path:
        lines.append(f"Serve: mlflow models serve -m {result.served_path} --env-manager local")
    from mlengine.tracking import redact, runs_page

    if uri.startswith(("http://", "https://")):
        lines.append(f"Compare runs: open {runs_page(redact(uri), result.experiment_id)}")
    else:
        lines.append(
            f"Compare runs: mlflow ui --backend-store-uri {redact(uri)}, then open "
            f"{runs_page('http://127.0.0.1:5000', result.experiment_id)}"
        )
    print("\n".join(lines), file=sys.stdout, flush=True)
