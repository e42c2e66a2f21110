"""Model quality at an equal wall-clock budget: mlengine against hand-written and AutoML anchors.

    python benchmarks/quality.py                                # 4 built-ins, 30 + 120 s, 3 seeds
    python benchmarks/quality.py --quick --systems xgb-default mlengine   # smoke test
    python benchmarks/quality.py --datasets --csv data/houses.csv --target price --budgets 60

Every system gets the same split of each dataset (80/20, `train_test_split(random_state=0)`,
stratified for classification) as train.csv / test.csv, a budget of B seconds and a seed (its
own randomness, not the split). Each run is a subprocess, one at a time; its wall time is the
whole subprocess (imports, search, refit, export), and its predictions on test.csv are scored
here: accuracy (higher is better) or RMSE (lower is better). FLAML and AutoGluon run in their
own venvs under benchmarks/.venvs/, created on first use (`--setup-only` just creates them).
Writes the summary table to --out and the per-seed rows beside it (<out>_runs.csv).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets as sk_datasets
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
VENVS = HERE / ".venvs"
BUILTINS = {
    "breast_cancer": "classification",
    "wine": "classification",
    "digits": "classification",
    "diabetes": "regression",
}
METRICS = {"classification": "accuracy", "regression": "rmse"}
VENV_REQUIREMENTS = {
    "flaml": ["flaml[automl]"],
    "autogluon": ["autogluon.tabular[lightgbm,catboost,xgboost]"],
}
MAIN_PACKAGES = ["mlengine", "xgboost", "optuna", "scikit-learn", "mlflow"]


class RunFailed(Exception):
    """A run that produced no score; its message goes into the row's `error`."""


@dataclass
class Dataset:
    name: str
    task: str
    target: str
    folder: Path
    task_given: bool  # pass dataset.task to mlengine (a --task given for a CSV)

    @property
    def train(self) -> Path:
        return self.folder / "train.csv"

    @property
    def test(self) -> Path:
        return self.folder / "test.csv"


@dataclass
class System:
    script: str | None = None  # an anchor runner in benchmarks/anchors/; None: the mlengine CLI
    venv: str | None = None  # its own venv under benchmarks/.venvs/; None: this interpreter
    extra: tuple[str, ...] = ()  # mlengine overrides, or the runner's extra arguments


SYSTEMS = {
    "mlengine": System(),  # its default model: auto
    "mlengine-xgboost": System(extra=("model=xgboost",)),
    "mlengine-ensemble": System(extra=("search.ensemble=5",)),
    "optuna-xgb": System("run_optuna_xgb.py"),
    "xgb-default": System("run_xgb_default.py"),
    "flaml": System("run_flaml.py", "flaml"),
    "autogluon": System("run_autogluon.py", "autogluon"),
    "autogluon-best": System("run_autogluon.py", "autogluon", ("--preset", "best_quality")),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="*", choices=list(BUILTINS), default=list(BUILTINS))
    parser.add_argument("--csv", action="append", default=[], metavar="PATH", help="repeatable")
    parser.add_argument("--target", action="append", default=[], help="one per --csv")
    parser.add_argument(
        "--task",
        action="append",
        default=[],
        choices=list(METRICS),
        help="once for all CSVs or one per --csv (default: inferred from the target)",
    )
    parser.add_argument("--budgets", nargs="+", type=float, default=[30.0, 120.0], help="seconds")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--systems", nargs="+", choices=list(SYSTEMS), default=list(SYSTEMS))
    parser.add_argument("--quick", action="store_true", help="breast_cancer+diabetes, 10 s, seed 0")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "quality.csv")
    parser.add_argument("--workdir", type=Path, default=None, help="where the temp folder goes")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--setup-only", action="store_true", help="create the venvs, then stop")
    args = parser.parse_args()
    if len(args.target) != len(args.csv) or len(args.task) not in (0, 1, len(args.csv)):
        parser.error("give one --target per --csv, and --task once or once per --csv")
    if args.quick:
        args.datasets, args.budgets, args.seeds = ["breast_cancer", "diabetes"], [10.0], [0]
    return args


def infer_task(y: pd.Series) -> str:
    """Classification for text, booleans and integers with at most 20 values."""
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    few = pd.api.types.is_integer_dtype(y) and y.nunique() <= 20
    return "classification" if not numeric or few else "regression"


def write_split(frame: pd.DataFrame, ds: Dataset) -> Dataset:
    """Split 80/20 (random_state=0, stratified for classification) into ds.folder."""
    frame = frame.dropna(subset=[ds.target])
    stratify = frame[ds.target] if ds.task == "classification" else None
    train, test = train_test_split(frame, test_size=0.2, random_state=0, stratify=stratify)
    ds.folder.mkdir(parents=True, exist_ok=True)
    train.to_csv(ds.train, index=False)
    test.to_csv(ds.test, index=False)
    return ds


def prepare_datasets(args: argparse.Namespace, root: Path) -> list[Dataset]:
    """The built-ins (target column `target`) and the --csv files, each split once."""
    found = []
    for name in args.datasets:
        frame = getattr(sk_datasets, f"load_{name}")(as_frame=True).frame
        ds = Dataset(name, BUILTINS[name], "target", root / name, task_given=False)
        found.append(write_split(frame, ds))
    for i, (path, target) in enumerate(zip(args.csv, args.target, strict=True)):
        frame = pd.read_csv(path)
        given = args.task[min(i, len(args.task) - 1)] if args.task else None
        task = given or infer_task(frame[target].dropna())
        name = Path(path).stem if Path(path).stem not in BUILTINS else f"csv_{Path(path).stem}"
        found.append(write_split(frame, Dataset(name, task, target, root / name, bool(given))))
    return found


def ensure_venv(name: str) -> Path:
    """benchmarks/.venvs/<name>'s python, creating the venv and installing into it once."""
    folder, wanted = VENVS / name, "\n".join(VENV_REQUIREMENTS[name])
    python, marker = folder / "bin" / "python", folder / "bench-requirements.txt"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    print(f"[setup] venv {folder}: pip install {' '.join(VENV_REQUIREMENTS[name])}", flush=True)
    print("[setup] (once; this can take several minutes)", flush=True)
    if not python.exists():
        VENVS.mkdir(exist_ok=True)
        (VENVS / ".gitignore").write_text("*\n")  # keeps git and ruff out of the venvs
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", *VENV_REQUIREMENTS[name]], check=True)
    marker.write_text(wanted)
    return python


def timed_run(command: list[str], cwd: Path, log: Path, limit: float) -> float:
    """Run command with its output in `log`; its wall time, or RunFailed with the log's tail."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    with open(log, "w") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            code = process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise RunFailed(f"killed after {limit:.0f} s") from None
        wall = time.perf_counter() - started
    if code != 0:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
        tail = " | ".join([line for line in lines if line][-3:])
        raise RunFailed(f"exit {code}: {tail[-400:]}")
    return wall


def run_mlengine(system: System, ds: Dataset, budget: float, seed: int, folder: Path) -> dict:
    """The CLI as a user runs it, then its exported MLflow model scored on test.csv."""
    import mlflow

    cwd, root = folder / "cwd", folder / "root"
    cwd.mkdir()
    binary = Path(sys.executable).with_name("mlengine")
    command = [
        str(binary if binary.exists() else shutil.which("mlengine")),
        "dataset=csv",
        f"dataset.path={ds.train}",
        f"dataset.target={ds.target}",
        *([f"dataset.task={ds.task}"] if ds.task_given else []),
        f"search.timeout={budget:g}",
        "search.n_trials=100000",
        f"search.metric={METRICS[ds.task]}",
        f"seed={seed}",
        f"paths.root={root}",
        "experiment_name=bench",
        *system.extra,
    ]
    wall = timed_run(command, cwd, folder / "log.txt", limit=3 * budget + 300)
    results = sorted(root.glob("runs/*/result.json"))
    if not results:
        raise RunFailed("no runs/*/result.json")
    result = json.loads(results[-1].read_text())
    model = mlflow.pyfunc.load_model(result["model_path"])
    predictions = model.predict(pd.read_csv(ds.test).drop(columns=ds.target))
    return {"predictions": predictions, "wall_s": wall, "n_trials": result.get("n_trials")}


def run_anchor(system: System, ds: Dataset, budget: float, seed: int, folder: Path) -> dict:
    """An anchor runner in its venv; it writes its test predictions to answer.json."""
    python = ensure_venv(system.venv) if system.venv else Path(sys.executable)
    answer = folder / "answer.json"
    command = [str(python), str(HERE / "anchors" / system.script)]
    command += ["--train", str(ds.train), "--test", str(ds.test), "--target", ds.target]
    command += ["--task", ds.task, "--budget", f"{budget:g}", "--seed", str(seed)]
    command += ["--out", str(answer), *system.extra]
    wall = timed_run(command, folder, folder / "log.txt", limit=3 * budget + 300)
    return {**json.loads(answer.read_text()), "wall_s": wall}


def score(task: str, y_true: pd.Series, predictions: object) -> float:
    """Accuracy or RMSE of the predictions against the test target."""
    pred = pd.Series(np.asarray(predictions).ravel())
    if len(pred) != len(y_true):
        raise RunFailed(f"{len(pred)} predictions for {len(y_true)} test rows")
    if task == "regression":
        return float(np.sqrt(np.mean((y_true.to_numpy(float) - pred.to_numpy(float)) ** 2)))
    if pd.api.types.is_numeric_dtype(y_true) and pd.api.types.is_numeric_dtype(pred):
        return float(np.mean(y_true.to_numpy(float) == pred.to_numpy(float)))
    return float(np.mean(y_true.astype(str).to_numpy() == pred.astype(str).to_numpy()))


def run_one(
    ds: Dataset, budget: float, name: str, seed: int, folder: Path, main_found: dict[str, str]
) -> dict:
    """One system on one dataset, budget and seed: its row, with the error if it failed."""
    print(f"{ds.name} {budget:g}s {name} seed {seed} ...", end=" ", flush=True)
    row = {"dataset": ds.name, "task": ds.task, "metric": METRICS[ds.task], "budget_s": budget}
    row |= {"system": name, "seed": seed, "score": None, "wall_s": None, "n_trials": None}
    system = SYSTEMS[name]
    in_main = main_found if system.script is None else {}  # anchors report their own
    row |= {"error": None, "versions": " ".join(f"{k}={v}" for k, v in in_main.items()) or None}
    try:
        runner = run_anchor if system.script else run_mlengine
        answer = runner(system, ds, budget, seed, folder)
        row["score"] = score(ds.task, pd.read_csv(ds.test)[ds.target], answer["predictions"])
        row["wall_s"], row["n_trials"] = answer["wall_s"], answer.get("n_trials")
        if answer.get("versions"):
            row["versions"] = " ".join(f"{k}={v}" for k, v in answer["versions"].items())
        print(f"{row['metric']} {row['score']:.4f} in {row['wall_s']:.1f} s")
    except Exception as error:  # one failed run must not stop the benchmark
        row["error"] = f"{type(error).__name__}: {error}"[:500]
        print(f"FAILED ({row['error']})")
    return row


def main_versions() -> dict[str, str]:
    """This interpreter's versions of the packages mlengine and the plain anchors use."""
    found = {name: metadata.version(name) for name in MAIN_PACKAGES}
    git = ["git", "-C", str(HERE.parent)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if commit.returncode == 0:  # read-only git: changed or new files under mlengine/, conf/
        changed = subprocess.run([*git, "diff", "--quiet", "HEAD", "--", "mlengine", "conf"])
        new = [*git, "ls-files", "--others", "--exclude-standard", "--", "mlengine", "conf"]
        dirty = changed.returncode != 0 or subprocess.run(new, capture_output=True).stdout
        found["mlengine"] += f" (git {commit.stdout.strip()}{'+dirty' if dirty else ''})"
    return found


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x budget x system: mean/std of the score over seeds, wall time, trials."""
    keys = ["dataset", "metric", "budget_s", "system"]
    numbers = {c: pd.to_numeric(runs[c], errors="coerce") for c in ("score", "wall_s", "n_trials")}
    ok = runs.assign(**numbers, ok=numbers["score"].notna())
    return (
        ok.groupby(keys, sort=False)
        .agg(
            mean=("score", "mean"),
            std=("score", "std"),
            wall_s=("wall_s", "mean"),
            trials=("n_trials", "mean"),
            n_ok=("ok", "sum"),
            n_seeds=("seed", "count"),
            versions=("versions", "first"),
        )
        .reset_index()
    )


def print_table(summary: pd.DataFrame) -> None:
    """The summary, `*` marking the best mean of each dataset x budget."""
    print("\nQuality at equal wall-clock budget: test split 20%, random_state=0; mean and std")
    print("over seeds; accuracy: higher is better, rmse: LOWER is better; * = best of its group")
    print("trials = configurations evaluated (AutoGluon: models fitted; xgb-default: none)")
    header = f"{'dataset':14} {'metric':8} {'budget':>6} {'system':15} {'mean':>9} {'std':>8}"
    print(f"{header} {'wall s':>7} {'trials':>7} {'ok':>5}")
    for (_, metric, _), group in summary.groupby(["dataset", "metric", "budget_s"], sort=False):
        best = group["mean"].min() if metric == "rmse" else group["mean"].max()
        for row in group.itertuples():
            mark = "*" if row.mean == best else " "
            std = "-" if pd.isna(row.std) else f"{row.std:.4f}"
            trials = "-" if pd.isna(row.trials) else f"{row.trials:.0f}"
            print(
                f"{row.dataset:14} {metric:8} {row.budget_s:6g} {row.system:15} "
                f"{row.mean:8.4f}{mark} {std:>8} {row.wall_s:7.1f} {trials:>7} "
                f"{row.n_ok:>2}/{row.n_seeds}"
            )


def main() -> int:
    args = parse_args()
    systems = list(dict.fromkeys(args.systems))
    for venv in dict.fromkeys(SYSTEMS[name].venv for name in systems if SYSTEMS[name].venv):
        ensure_venv(venv)  # before any timing: installs never count against a budget
    if args.setup_only:
        return 0
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="quality-", dir=args.workdir))
    datasets = prepare_datasets(args, base)
    main_found = main_versions()
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.1f} at start; work folder {base}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    runs_out = args.out.with_name(f"{args.out.stem}_runs.csv")
    rows: list[dict] = []
    for ds in datasets:
        for budget in args.budgets:
            for name in systems:
                for seed in args.seeds:
                    folder = base / ds.name / f"{name}-{budget:g}s-seed{seed}"
                    folder.mkdir(parents=True)
                    rows.append(run_one(ds, budget, name, seed, folder, main_found))
                    pd.DataFrame(rows).to_csv(runs_out, index=False)
    runs = pd.DataFrame(rows)
    summary = summarise(runs)
    summary.to_csv(args.out, index=False)
    print_table(summary)
    for row in runs[runs["error"].notna()].itertuples():
        print(f"error: {row.dataset} {row.budget_s:g}s {row.system} seed {row.seed}: {row.error}")
    print("\nversions:")
    for name, found in summary.groupby("system", sort=False)["versions"].first().items():
        print(f"  {name:15} {found if isinstance(found, str) else '-'}")
    print(f"\nload average {os.getloadavg()[0]:.1f} at end (was {load:.1f})")
    print(f"wrote {args.out} and {runs_out}")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
