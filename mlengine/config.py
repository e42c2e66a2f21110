"""Structured configs: the schema every YAML under conf/ is merged onto.

Hydra checks key names and types when it composes (struct mode: a typo is an error).
Ranges and cross-field rules live in ``__post_init__``, which runs when ``validate``
turns the composed DictConfig into these dataclasses, so a bad value is refused with
its full key before any study, run or model is touched.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.errors import CompactHydraException
from omegaconf import MISSING, DictConfig, OmegaConf, flag_override
from omegaconf.errors import OmegaConfBaseException

TASKS = ("auto", "classification", "regression")
# What kind of learner a family is, for the EDA's family advice (mlengine/families.py).
PROFILES = ("boosting", "bagging", "linear", "kernel", "neighbours", "neural")
COLUMN_KINDS = ("numeric", "boolean", "categorical", "datetime", "text", "id")


def config_dir() -> Path:
    """conf/ beside the package in a source checkout, inside it in a wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"mlengine's conf/ folder is missing next to {here}")


class MlengineError(CompactHydraException):
    """A problem the user can fix: printed as one line, no traceback, non-zero exit."""


def first_line(error: BaseException) -> str:
    """An error's first line (at most 300 characters), or its type's name when it says
    nothing: what a one-line report of a failure shows."""
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else type(error).__name__


class ConfigError(MlengineError):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"Invalid config '{key}': {problem}")
        self.key = key


def no_frame_error() -> ConfigError:
    """dataset.source=dataframe without a frame: the command line has no in-memory table."""
    return ConfigError(
        "dataset.source",
        "dataframe is the Python API's in-memory table (run_experiment(frame=df, "
        "target=COLUMN)); on the command line use dataset=csv dataset.path=FILE",
    )


def _check(ok: bool, key: str, problem: str) -> None:
    if not ok:
        raise ConfigError(key, problem)


@dataclass
class DatasetConfig:
    name: str = MISSING
    source: str = "builtin"  # builtin | file | dataframe (the Python API's in-memory table)
    path: str | None = None
    target: str | None = None
    task: str = "auto"
    test_size: float = 0.2
    split_by: str | None = None  # column: rows sharing a value stay on one side of a split
    time_column: str | None = None  # column: the test split holds the most recent rows
    column_types: dict[str, str] = field(default_factory=dict)  # column -> kind, overrides
    delimiter: str | None = None  # CSV field separator; null: detected from the first lines
    encoding: str | None = None  # CSV text encoding; null: UTF-8/UTF-16 by BOM, else cp1252
    # Missing markers beyond "", "NA", "?", "null"...: null guesses ("none", "-" are missing
    # where the rest of a column reads as numbers or dates); a list (even []) is exactly
    # the markers, in every column.
    na_values: list[str] | None = None
    read_options: dict[str, Any] = field(default_factory=dict)  # pandas read_csv/read_parquet args

    def __post_init__(self) -> None:
        _check(
            self.source in ("builtin", "file", "dataframe"),
            "dataset.source",
            "must be builtin, file or dataframe",
        )
        _check(self.task in TASKS, "dataset.task", f"must be one of {', '.join(TASKS)}")
        _check(0.0 < self.test_size < 1.0, "dataset.test_size", "must be between 0 and 1")
        if self.source == "file":
            _check(
                bool(self.path),
                "dataset.path",
                "is required for a file dataset "
                "(mlengine dataset=csv dataset.path=data.csv dataset.target=COLUMN)",
            )
        if self.source != "builtin":
            _check(
                bool(self.target),
                "dataset.target",
                "names the column to predict; set it with dataset.target=COLUMN",
            )
        for column, kind in self.column_types.items():
            _check(
                kind in COLUMN_KINDS,
                f"dataset.column_types.{column}",
                f"'{kind}' is not one of {', '.join(COLUMN_KINDS)}",
            )
        _check(
            not (self.split_by and self.time_column),
            "dataset.split_by",
            "cannot be combined with dataset.time_column; pick one split policy",
        )
        for key in ("split_by", "time_column"):
            _check(
                not self.target or getattr(self, key) != self.target,
                f"dataset.{key}",
                f"'{self.target}' is the target column; name another column",
            )
        _check(
            self.delimiter is None or len(self.delimiter) == 1,
            "dataset.delimiter",
            f"must be one character, got {self.delimiter!r}",
        )
        if self.encoding is not None:
            import codecs

            try:
                codecs.lookup(self.encoding)
            except LookupError:
                _check(False, "dataset.encoding", f"'{self.encoding}' is not a known encoding")


@dataclass
class FeaturesConfig:
    name: str = "auto"
    drop: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)  # when set, only these columns are used
    select: str = "all"  # all | eda (drop what the EDA report rates irrelevant/ID/leaking)
    scale: bool | None = None  # None: as the model family declares
    encoding: str | None = None  # onehot | ordinal | native; None: as the model declares
    rare_min_frequency: float = 0.01  # rarer categories share one "infrequent" column
    max_categories: int = 30  # one-hot columns per feature at most
    text: str = "tfidf"  # tfidf | drop
    text_max_features: int = 300

    def __post_init__(self) -> None:
        _check(self.select in ("all", "eda"), "features.select", "must be all or eda")
        _check(
            self.encoding in (None, "onehot", "ordinal", "native"),
            "features.encoding",
            "must be onehot, ordinal, native or null",
        )
        _check(self.text in ("tfidf", "drop"), "features.text", "must be tfidf or drop")
        _check(
            0.0 <= self.rare_min_frequency < 1.0, "features.rare_min_frequency", "must be in [0, 1)"
        )
        _check(self.max_categories >= 2, "features.max_categories", "must be at least 2")
        _check(self.text_max_features >= 1, "features.text_max_features", "must be positive")
        both = set(self.drop) & set(self.keep)
        _check(not both, "features.drop", f"columns {sorted(both)} are also in features.keep")


@dataclass
class ParamSpec:
    """One hyperparameter: its key is the estimator's constructor argument."""

    type: str = MISSING  # int | float | categorical
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] | None = None
    # Only sampled when every named parameter has one of the given values.
    when: dict[str, Any] | None = None
    task: str | None = None  # classification | regression: only for that task's estimator

    def contains(self, value: Any) -> bool:
        """Whether `value` is a point of this space (a warm-start setting must be)."""
        if self.type == "categorical":
            return value in (self.choices or [])
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return self.low <= value <= self.high and (self.type == "float" or value == int(value))

    def validate(self, key: str) -> None:
        _check(
            self.type in ("int", "float", "categorical"),
            f"{key}.type",
            "must be int, float or categorical",
        )
        _check(
            self.task in (None, "classification", "regression"),
            f"{key}.task",
            "must be classification, regression or null",
        )
        if self.type == "categorical":
            _check(bool(self.choices), f"{key}.choices", "a categorical needs choices")
            return
        _check(self.low is not None and self.high is not None, key, "needs low and high")
        _check(self.low <= self.high, key, f"low ({self.low}) is greater than high ({self.high})")
        _check(not (self.log and self.low <= 0), f"{key}.low", "must be > 0 with log: true")
        _check(not (self.log and self.step), f"{key}.step", "cannot be combined with log: true")


@dataclass
class IterativeConfig:
    """Families trained round by round (boosting rounds, epochs): early stopping and pruning."""

    param: str = MISSING  # the constructor argument that counts rounds (n_estimators, ...)
    early_stopping_rounds: int = 30
    validation_fraction: float = 0.15
    # Rounds between reports to the pruner: each report is a write to the study's storage,
    # so cheap rounds (boosting) report every few, costly ones (epochs) every one.
    report_every: int = 10

    def __post_init__(self) -> None:
        _check(
            self.early_stopping_rounds >= 1,
            "model.iterative.early_stopping_rounds",
            "must be at least 1",
        )
        _check(self.report_every >= 1, "model.iterative.report_every", "must be at least 1")
        _check(
            0.0 < self.validation_fraction < 0.5,
            "model.iterative.validation_fraction",
            "must be between 0 and 0.5",
        )


@dataclass
class AdviceConfig:
    """How the EDA's family advice ranks a family (mlengine/families.py)."""

    profile: str = MISSING  # boosting | bagging | linear | kernel | neighbours | neural
    prior: float = 1.0  # its score before the table's facts move it
    max_categories: int | None = None  # levels its native categorical support handles

    def __post_init__(self) -> None:
        _check(
            self.profile in PROFILES,
            "model.advice.profile",
            f"'{self.profile}' is not a profile; use one of {', '.join(PROFILES)}",
        )


@dataclass
class ModelConfig:
    name: str = MISSING
    classifier: dict[str, Any] | None = None  # `_target_` + fixed constructor arguments
    regressor: dict[str, Any] | None = None
    scale: bool = False  # does the family need standardised numeric inputs?
    encoding: str = "onehot"  # onehot | ordinal | native: how it wants categoricals
    class_weight: str | None = None  # null | balanced
    threads: str | None = None  # the constructor argument that sets its thread count
    iterative: IterativeConfig | None = None
    search_space: dict[str, ParamSpec] = field(default_factory=dict)
    # Known-good settings (library defaults, a small portfolio), the first trials of a study.
    warm_start: list[dict[str, Any]] = field(default_factory=list)
    # model=auto: the families one study searches over (files under conf/model/).
    families: list[str] = field(default_factory=list)
    advice: AdviceConfig | None = None  # what kind of learner, for the EDA's family advice

    def __post_init__(self) -> None:
        _check(
            self.classifier is not None or self.regressor is not None or bool(self.families),
            "model",
            "declares neither a classifier nor a regressor",
        )
        _check(
            self.encoding in ("onehot", "ordinal", "native"),
            "model.encoding",
            "must be onehot, ordinal or native",
        )
        _check(
            self.class_weight in (None, "balanced"),
            "model.class_weight",
            "must be null or balanced",
        )
        for key, spec in self.search_space.items():
            spec.validate(f"model.search_space.{key}")
            for other in spec.when or {}:
                _check(
                    other in self.search_space,
                    f"model.search_space.{key}.when",
                    f"refers to '{other}', which is not in the search space",
                )
        for number, params in enumerate(self.warm_start):
            for key in params:  # values outside a (narrowed) space are skipped, not refused
                where = f"model.warm_start[{number}].{key}"
                _check(key in self.search_space, where, "is not in model.search_space")


SAMPLERS = ("tpe", "random", "cmaes", "qmc", "grid")
PRUNERS = ("median", "percentile", "successive_halving", "hyperband", "none")


@dataclass
class SearchConfig:
    n_trials: int = 20
    # Seconds for the whole job (load, EDA, sweep, refit, export); null: no limit.
    timeout: float | None = None
    metric: str | None = None  # null: roc_auc / accuracy / r2, by task
    cv_folds: int = 5
    sampler: str = "tpe"  # one of SAMPLERS (mlengine/samplers.py builds them)
    pruner: str = "median"  # one of PRUNERS
    pruner_percentile: float = 25.0  # pruner=percentile: keep trials above this percentile
    storage: str | None = None  # Optuna storage URL; null: a journal file under paths.root
    study_name: str | None = None  # null: derived from experiment, dataset, model, space
    n_startup_trials: int = 5  # TPE samples randomly before it models; pruning waits too
    # Folds a trial completes before it may be pruned; null: 2 on tables under 2,000 rows
    # (small folds score noisily), else 0 (an iterative family's first 10 rounds are spared).
    pruning_warmup_folds: int | None = None
    # Up to this many trials blended by greedy ensemble selection on their out-of-fold
    # predictions (mlengine/ensemble.py); 0 or 1: the best trial alone.
    ensemble: int = 0
    # Worker processes on this machine sharing the study (each gets cores // n_jobs threads).
    n_jobs: int = 1
    # Rerun a trial that failed because its worker died (kill, crash), once, with its params.
    retry_failed: bool = False
    # Optuna's plots on the parent run (~2-3 s); null: unless search.timeout is short.
    plots: bool | None = None
    # RDB storages (PostgreSQL, MySQL): a running trial's worker beats every
    # heartbeat_interval seconds; a trial silent for grace_period is FAIL (its worker died,
    # on any machine) and is retried once.
    heartbeat_interval: int = 60
    grace_period: int = 180

    def __post_init__(self) -> None:
        _check(self.n_trials >= 1, "search.n_trials", f"must be at least 1, got {self.n_trials}")
        _check(self.timeout is None or self.timeout > 0, "search.timeout", "must be > 0 or null")
        _check(self.cv_folds >= 2, "search.cv_folds", "must be at least 2")
        _check(self.sampler in SAMPLERS, "search.sampler", f"must be one of {', '.join(SAMPLERS)}")
        _check(self.pruner in PRUNERS, "search.pruner", f"must be one of {', '.join(PRUNERS)}")
        _check(0 < self.pruner_percentile < 100, "search.pruner_percentile", "must be in (0, 100)")
        _check(self.n_jobs >= 1, "search.n_jobs", f"must be at least 1, got {self.n_jobs}")
        _check(self.heartbeat_interval >= 1, "search.heartbeat_interval", "must be >= 1 (s)")
        _check(
            self.grace_period > self.heartbeat_interval,
            "search.grace_period",
            f"must be longer than search.heartbeat_interval ({self.heartbeat_interval} s)",
        )
        _check(self.n_startup_trials >= 0, "search.n_startup_trials", "must be >= 0")
        _check(self.ensemble >= 0, "search.ensemble", "must be >= 0 (0: no ensemble)")
        _check(
            self.pruning_warmup_folds is None or 0 <= self.pruning_warmup_folds < self.cv_folds,
            "search.pruning_warmup_folds",
            f"must be null or between 0 and search.cv_folds - 1 ({self.cv_folds - 1})",
        )
        if self.storage and not self.storage.startswith("journal:"):
            check_storage_driver(self.storage)


# pip extras that bring an Optuna storage's database driver, by URL scheme.
DRIVER_EXTRAS = {"postgresql": "postgres"}


def check_storage_driver(url: str) -> None:
    """Refuse an RDB storage URL whose database driver is not installed, naming the fix."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
        parsed.get_dialect().import_dbapi()
    except (ArgumentError, NoSuchModuleError, ValueError) as error:
        problem = str(error).splitlines()[0]
        raise ConfigError(
            "search.storage", f"is not a storage URL Optuna can open ({problem})"
        ) from None
    except ImportError as error:
        backend = parsed.get_backend_name()
        extra = DRIVER_EXTRAS.get(backend)
        fix = f'pip install "mlengine[{extra}]"' if extra else f"install the {backend} driver"
        raise ConfigError(
            "search.storage",
            f"the {backend} driver is not installed ({error.name or error}); {fix}",
        ) from None


PLOTS_MIN_BUDGET_S = 120.0


def draws_plots(setting: bool | None, budget_s: float | None) -> bool:
    """`setting` true/false forces it; null (auto) draws unless the budget is short."""
    if setting is not None:
        return setting
    return budget_s is None or budget_s >= PLOTS_MIN_BUDGET_S


@dataclass
class EdaConfig:
    enabled: bool = True
    only: bool = False  # run the EDA, print the report, stop
    fail_on: list[str] = field(default_factory=list)  # e.g. [leakage]: stop before the sweep
    sample_rows: int = 50_000
    n_probes: int = 5
    leakage_threshold: float = 0.98
    correlation_threshold: float = 0.95
    # The four PNGs cost ~2-4 s; null (auto) draws them unless search.timeout is under
    # PLOTS_MIN_BUDGET_S, where those seconds buy trials instead. true/false force it.
    plots: bool | None = None

    def draws_plots(self, budget_s: float | None) -> bool:
        return draws_plots(self.plots, budget_s)

    def __post_init__(self) -> None:
        _check(self.sample_rows >= 100, "eda.sample_rows", "must be at least 100")
        _check(0.5 < self.leakage_threshold <= 1.0, "eda.leakage_threshold", "must be in (0.5, 1]")
        _check(
            0.0 < self.correlation_threshold <= 1.0,
            "eda.correlation_threshold",
            "must be in (0, 1]",
        )


@dataclass
class ExportConfig:
    enabled: bool = True
    name: str = "model"  # folder under the run's output dir; a plain name, no path
    # also write NAME_onnx/, the ONNX form as an MLflow model, where the pipeline converts
    # and it answers the holdout rows like the pipeline (then it is the served form)
    onnx: bool = True
    # all: the exported model is refit on training + holdout rows (the holdout metrics are
    # the train-split model's); train: the train-split model itself is exported.
    refit: str = "all"
    # true: no sweep; refit the study's best trial, evaluate and export (after workers on
    # other machines finished the study), with the same overrides as the workers
    only: bool = False
    # register the served form under this name in MLflow's model registry; the alias
    # `champion` moves to it only when its holdout score beats the champion's (same data)
    registered_model: str | None = None

    def __post_init__(self) -> None:
        _check(self.refit in ("all", "train"), "export.refit", "must be all or train")
        _check(
            bool(self.name)
            and self.name not in (".", "..")
            and "/" not in self.name
            and "\\" not in self.name,
            "export.name",
            f"'{self.name}' must be a plain folder name (no '/', '..')",
        )


@dataclass
class OptimizeConfig:
    """`mlengine +task=optimize`: a pipeline mlengine did not train, as the lean ONNX model
    (mlengine/optimize.py). The files are checked here, before any run folder exists."""

    model: str = ""  # an MLflow model folder (sklearn flavour) or a .skops file
    data: str = ""  # a sample CSV of the pipeline's input rows: parity and latency
    target: str | None = None  # a column of the sample to drop (the label)
    allow_pickle: bool = False  # also load .pkl/.pickle/.joblib files (runs their code)
    out: str | None = None  # folder for model_onnx/ and the report; null: the run folder

    def __post_init__(self) -> None:
        _check(
            bool(self.model),
            "optimize.model",
            "names the pipeline to optimise (optimize.model=PATH: an MLflow model folder "
            "or a .skops file)",
        )
        _check(
            bool(self.data),
            "optimize.data",
            "names a sample CSV of the pipeline's input rows (optimize.data=SAMPLE.csv)",
        )
        _check(Path(self.data).is_file(), "optimize.data", f"'{self.data}' is not a file")


@dataclass
class EvaluationConfig:
    """The holdout report (mlengine/evaluation.py)."""

    intervals: bool = True  # bootstrap confidence interval of every holdout metric
    level: float = 0.95
    resamples: int = 1000  # fewer on large holdouts (bounded work: resamples x rows <= 2M)
    importance: bool = True  # permutation importance per raw column on the holdout rows
    plots: bool = True  # confusion matrix, ROC/PR/calibration curves; residual plots

    def __post_init__(self) -> None:
        _check(0.5 <= self.level < 1.0, "evaluation.level", "must be in [0.5, 1), e.g. 0.95")
        _check(self.resamples >= 100, "evaluation.resamples", "must be >= 100")


@dataclass
class ClusterConfig:
    """The resources a cluster launcher asks for per job (conf/hydra/launcher/slurm.yaml,
    local.yaml and parallel.yaml read them; plain runs ignore them)."""

    partition: str | None = None  # SLURM partition; null: the cluster's default
    time_min: int = 60  # wall-clock limit per job, minutes
    cpus: int = 2  # CPUs per job (search.n_jobs workers share them)
    gpus: int = 0
    mem_gb: int = 8
    max_parallel: int = 4  # jobs at once (a SLURM array's parallelism, parallel.yaml's n_jobs)
    account: str | None = None  # SLURM account, where the cluster wants one

    def __post_init__(self) -> None:
        for key in ("time_min", "cpus", "mem_gb", "max_parallel"):
            _check(getattr(self, key) >= 1, f"cluster.{key}", "must be >= 1")
        _check(self.gpus >= 0, "cluster.gpus", "must be >= 0")


@dataclass
class TrackingConfig:
    uri: str = MISSING


@dataclass
class PathsConfig:
    root: str = "outputs"


@dataclass
class Config:
    dataset: DatasetConfig = MISSING
    features: FeaturesConfig = MISSING
    model: ModelConfig = MISSING
    search: SearchConfig = MISSING
    eda: EdaConfig = MISSING
    export: ExportConfig = MISSING
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    seed: int = 42
    experiment_name: str = "mlengine"
    optimize: OptimizeConfig | None = None  # +task=optimize: the optimiser, not a training run

    def __post_init__(self) -> None:
        _check(self.seed >= 0, "seed", "must be >= 0")
        _check(bool(self.experiment_name.strip()), "experiment_name", "must not be empty")
        self._check_combinations()

    def _check_combinations(self) -> None:
        """Values each valid alone that cannot work together: refused before anything runs."""
        eda, export = self.eda, self.export
        off = "but eda=off (eda.enabled=false) turns the EDA off"
        _check(
            self.features.select != "eda" or eda.enabled,
            "features.select",
            f"eda selects columns from the EDA report, {off}: drop eda=off or use all",
        )
        _check(not eda.only or eda.enabled, "eda.only", f"true runs the EDA alone, {off}")
        _check(not eda.fail_on or eda.enabled, "eda.fail_on", f"stops on EDA findings, {off}")
        _check(not (export.only and eda.only), "export.only", "and eda.only=true ask for two jobs")
        for key, value in (("only", export.only), ("registered_model", export.registered_model)):
            _check(
                not value or export.enabled,
                f"export.{key}",
                "needs an export, but export.enabled=false turns it off",
            )


def register_configs() -> None:
    """The schema config.yaml starts from: each group's YAML merges onto its typed field."""
    ConfigStore.instance().store(name="base_config", node=Config)


def validate(cfg: DictConfig) -> Config:
    """Typed, range-checked view of a composed config (raises ConfigError)."""
    plain = cfg
    if "hydra" in cfg:  # a copy without it that stays a Config (masked_copy made a dict)
        plain = copy.deepcopy(cfg)
        with flag_override(plain, ["struct", "readonly"], [False, False]):
            plain.pop("hydra")
    try:
        return OmegaConf.to_object(plain)  # type: ignore[return-value]
    except OmegaConfBaseException as error:
        raise MlengineError(f"Invalid config: {error}".splitlines()[0]) from None
