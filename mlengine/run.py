"""run(cfg): the only orchestrator. Data -> EDA -> sweep -> refit -> holdout -> export."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from mlengine.config import Config, MlengineError, validate

log = logging.getLogger("mlengine")


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
    model_path: Path | None = None
    model_uri: str | None = None
    onnx_path: Path | None = None
    onnx_reason: str | None = None
    dropped_columns: list[str] = field(default_factory=list)
    eda: dict[str, Any] | None = None
    pipeline: Any = field(default=None, repr=False)  # the fitted, exported Pipeline

    def one_line(self) -> str:
        holdout = ", ".join(f"{k}={v:.4f}" for k, v in self.holdout.items())
        return f"cv {self.metric}={self.cv_score:.4f}; holdout {holdout}"

    def to_json(self) -> str:
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "pipeline"}
        return json.dumps(values, default=str, indent=2)


def run(
    cfg: DictConfig,
    output_dir: Path,
    overrides: list[str] | tuple = (),
    frame: pd.DataFrame | None = None,
) -> RunResult | None:
    """Run one job; returns None when `eda.only` stops after the report."""
    from mlengine import data, recovery, tracking
    from mlengine.metrics import METRICS, default_metric

    conf: Config = validate(cfg)
    tracker = tracking.Tracker(conf.tracking.uri, conf.experiment_name, Path(conf.paths.root))
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    ds = data.load_dataset(conf.dataset, frame)
    if ds.n_missing_target:
        log.warning("Dropped %d rows whose target '%s' is missing", ds.n_missing_target, ds.y.name)
    X_train, X_test, y_train, y_test = data.holdout_split(ds, conf.dataset.test_size, conf.seed)
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
    if recovery.close_stale_runs(tracker.client, tracker.experiment_id):
        log.warning("Closed MLflow runs left RUNNING by a killed process")
    commit = tracking.git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    with tracker.parent_run(f"{conf.model.name}-{ds.name}", tags) as run_id:
        _log_setup(tracker, cfg, conf, overrides, ds, output_dir)
        report = _run_eda(conf, ds, X_train, y_train, tracker, output_dir)
        if conf.eda.only:
            return None
        extra_drop = [
            *ds.drop_columns,
            *(report.columns_to_drop() if report and conf.features.select == "eda" else []),
        ]
        result = _sweep_refit_export(
            conf, ds, metric, extra_drop, X_train, X_test, y_train, y_test, tracker, output_dir
        )
        result.run_id, result.experiment_id = run_id, tracker.experiment_id
        result.eda = report.to_dict() if report else None
    (output_dir / "result.json").write_text(result.to_json())
    _print_summary(result, tracker.uri)
    return result


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
    tracker.set_tags(
        {
            "mlengine.overrides": tracking.redact(" ".join(overrides)) or "(none)",
            "mlengine.seed": str(conf.seed),
        }
    )


def _run_eda(
    conf: Config, ds: Any, X: pd.DataFrame, y: pd.Series, tracker: Any, output_dir: Path
) -> Any:
    """EDA on the training split (the holdout stays unseen); may stop the run."""
    if not conf.eda.enabled:
        return None
    from mlengine.eda import EdaSettings, run_eda

    settings = EdaSettings.from_config(asdict(conf.eda))
    report = run_eda(
        X,
        y,
        ds.task,
        settings,
        seed=conf.seed,
        column_types={c: ds.column_types[c] for c in X.columns},
        n_missing_target=ds.n_missing_target,
    )
    eda_dir = output_dir / "eda"
    for path in report.write(eda_dir):
        tracker.log_artifact(path, "eda")
    selecting = conf.features.select == "eda"
    print(report.to_markdown() if conf.eda.only else report.console_summary(selecting))
    failures = report.failures(conf.eda.fail_on)
    if failures:
        reasons = "; ".join(f"{f.check}: {f.message}" for f in failures)
        raise MlengineError(f"EDA check failed (eda.fail_on={list(conf.eda.fail_on)}): {reasons}")
    return report


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
) -> RunResult:
    import optuna

    from mlengine import data, features, recovery, search
    from mlengine.metrics import METRICS, holdout_scores
    from mlengine.progress import SweepProgress

    columns = features.select_columns(
        {c: ds.column_types[c] for c in X_train.columns}, conf.features, extra_drop
    )
    dropped = [c for c in X_train.columns if c not in columns]
    X_train, X_test = X_train[list(columns)], X_test[list(columns)]

    def make_preprocessor() -> Any:
        return features.build_preprocessor(
            columns, conf.model, conf.features, ds.date_formats, conf.dataset.na_values
        )

    folds = data.cv_folds(ds, X_train, y_train, conf.search.cv_folds, conf.seed)
    objective = search.CrossValidatedObjective(
        model=conf.model,
        make_preprocessor=make_preprocessor,
        X=X_train,
        y=y_train,
        task=ds.task,
        metric=metric,
        folds=folds,
        seed=conf.seed,
        groups=None
        if ds.groups is None or ds.time is not None
        else ds.groups.loc[X_train.index].to_numpy(),
        time_ordered=ds.time is not None,
    )
    name = conf.search.study_name or search.study_name(
        f"{conf.experiment_name}-{ds.name}-{conf.model.name}",
        conf.model,
        conf.features,
        conf.dataset,
        metric,
        conf.search.cv_folds,
        conf.seed,
        ds.fingerprint,
    )
    direction = METRICS[metric].direction
    study = search.open_study(
        conf.search, name, direction, conf.seed, Path(conf.paths.root) / "optuna" / "journal.log"
    )
    if recovery.fail_stale_trials(study):
        log.warning("Marked trials of a killed process FAIL in study %s", name)
    remaining = conf.search.n_trials - search.finished_trials(study)
    tracker.set_tags({"mlengine.study": name})
    if remaining > 0:
        with SweepProgress(study, remaining, metric) as progress:
            study.optimize(
                objective,
                n_trials=remaining,
                timeout=conf.search.timeout,
                catch=(search.EstimatorFailure,),
                callbacks=[lambda s, t: tracker.log_trial(t, metric), progress],
            )
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise MlengineError(
            f"No trial of study '{name}' completed "
            f"({search.finished_trials(study)} failed or pruned); nothing exported"
        )
    best = study.best_trial
    pipeline = objective.refit(best.params, best.user_attrs.get("best_rounds"), X_train, y_train)
    holdout = holdout_scores(ds.task, pipeline, X_test, y_test)
    result = RunResult(
        metric=metric,
        best_params=dict(best.params),
        cv_score=best.value,
        cv_std=best.user_attrs.get("cv_std", float("nan")),
        holdout=holdout,
        run_id="",
        experiment_id="",
        study_name=name,
        n_trials=search.finished_trials(study),
        output_dir=output_dir,
        dropped_columns=dropped,
        pipeline=pipeline,
    )
    tracker.log_params(
        {f"best.{k}": v for k, v in best.params.items()}
        | {"best.trial": best.number, "best.rounds": best.user_attrs.get("best_rounds", "")}
    )
    tracker.log_metrics(
        {f"cv_{metric}": best.value, f"cv_{metric}_std": result.cv_std}
        | {f"holdout_{k}": v for k, v in holdout.items()}
    )
    if conf.export.enabled:
        from mlengine.export import export_model, export_onnx

        exported = export_model(pipeline, X_train, output_dir, conf.export.name)
        result.model_path, result.model_uri = exported.path, exported.model_uri
        tracker.set_tags({"mlengine.model_path": str(exported.path)})
        if conf.export.onnx:
            onnx = export_onnx(pipeline, X_train, ds.task, output_dir, conf.export.name)
            result.onnx_path, result.onnx_reason = onnx.onnx_path, onnx.onnx_reason
            if onnx.onnx_path:
                tracker.log_artifact(onnx.onnx_path, "onnx")
                tracker.log_metrics(onnx.onnx_metrics)
            else:
                log.warning("No ONNX form: %s", onnx.onnx_reason)
                tracker.set_tags({"mlengine.onnx_reason": onnx.onnx_reason or ""})
    return result


def _print_summary(result: RunResult, uri: str) -> None:
    lines = [
        "",
        f"Best CV {result.metric}: {result.cv_score:.4f} (+/- {result.cv_std:.4f}) "
        f"over {result.n_trials} trials of study {result.study_name}",
        "Holdout: " + ", ".join(f"{k}={v:.4f}" for k, v in result.holdout.items()),
        f"Best params: {result.best_params}",
    ]
    if result.model_path:
        lines.append(f"Model: {result.model_path}  (MLflow: {result.model_uri})")
        lines.append(f"Serve: mlflow models serve -m {result.model_path} --env-manager local")
    if result.onnx_path:
        lines.append(f"ONNX: {result.onnx_path}")
    elif result.onnx_reason:
        lines.append(f"No ONNX form: {result.onnx_reason}")
    lines.append(f"Compare runs: mlflow ui --backend-store-uri {uri}")
    print("\n".join(lines), file=sys.stdout, flush=True)
