"""Loading benchmark: a messy 1,000,000-row x 50-column CSV, read and typed.

Compares the readers' own floor (Arrow's CSV reader into an Arrow table; pandas'
default C engine into a DataFrame) with mlengine's `load_dataset` (read + type every
column + clean the target). Each case runs in a fresh child process, which reports its
wall time, its peak resident memory (VmHWM, the kernel's high-water mark) and the size
of what it built.

    python benchmarks/bench_load.py                      # 1,000,000 rows, each case once
    python benchmarks/bench_load.py --rows 200000 --repeat 3
    python benchmarks/bench_load.py --cases mlengine     # only mlengine's loader

The file is generated once (seeded) under the temp folder and reused. Its 50 columns: a
row counter (an ID), 30 floats with 2% missing, 6 integers (3 to 1,000,000 distinct
values), 6 text categoricals (3 to 1,000 levels, 1% blank), ISO dates, day/month/year
dates, yes/no and true/false flags, "4,906,978"-style amounts with 1% "?", "60%"
percentages with 1% "n/a", and a three-word free-text note. The target is `cat_0`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CASES = ("pyarrow", "pandas", "mlengine")
LABELS = {
    "pyarrow": "pyarrow.csv.read_csv (Arrow table, no typing)",
    "pandas": "pandas.read_csv (default C engine)",
    "mlengine": "mlengine load_dataset (read + type + target)",
}


def make_csv(path: Path, rows: int, seed: int = 0) -> None:
    """Write the benchmark table (vectorised: values are drawn from precomputed pools)."""
    import pyarrow as pa
    from pyarrow import csv as pacsv

    rng = np.random.default_rng(seed)

    def pick(pool: list[str], missing: str | None = None, share: float = 0.0) -> pa.Array:
        values = np.asarray(pool, dtype=object)[rng.integers(0, len(pool), rows)]
        if missing is not None:
            values[rng.random(rows) < share] = missing
        return pa.array(values, pa.string())

    columns: dict[str, pa.Array] = {"row_id": pa.array(np.arange(rows) + 100_000)}
    for i in range(30):
        values = np.round(rng.normal(100 * i, 10 + i, rows), 4)
        values[rng.random(rows) < 0.02] = np.nan
        columns[f"num_{i}"] = pa.array(values, from_pandas=True)
    for i, high in enumerate((5, 8, 50, 1000, 1_000_000, 3)):
        columns[f"int_{i}"] = pa.array(rng.integers(0, high, rows))
    for i, levels in enumerate((3, 7, 20, 100, 400, 1000)):
        columns[f"cat_{i}"] = pick([f"level_{j}" for j in range(levels)], "", 0.01)
    days = np.datetime64("2015-01-01") + np.arange(3000)
    iso = [str(d) for d in days]
    columns["date_iso"] = pick(iso)
    columns["date_dmy"] = pick([f"{d[8:10]}/{d[5:7]}/{d[:4]}" for d in iso])
    columns["flag_yes"] = pick(["yes", "no"])
    columns["flag_tf"] = pick(["true", "false"])
    columns["money"] = pick([f"{v:,}" for v in rng.integers(0, 5_000_000, 10_000)], "?", 0.01)
    columns["pct"] = pick([f"{v}%" for v in range(100)], "n/a", 0.01)
    words = ["alpha", "beta", "gamma", "delta", "red", "blue", "fast", "slow", "big", "small"]
    notes = [f"{a} {b} {c}" for a in words for b in words for c in words]
    columns["note"] = pick(notes)
    tmp = path.with_suffix(".tmp")
    pacsv.write_csv(pa.table(columns), tmp)
    tmp.rename(path)


def child(case: str, path: Path) -> dict:
    """Run one case in this process; peak memory is this process's ru_maxrss."""
    import pandas as pd
    import pyarrow  # noqa: F401 - imported by every case; counted in the baseline

    if case == "mlengine":
        from mlengine.config import DatasetConfig
        from mlengine.data import load_dataset
    base = _maxrss_mb()
    started = time.perf_counter()
    if case == "pyarrow":
        from pyarrow import csv as pacsv

        table = pacsv.read_csv(path)
        seconds, size = time.perf_counter() - started, table.nbytes
    elif case == "pandas":
        frame = pd.read_csv(path)
        seconds, size = time.perf_counter() - started, frame.memory_usage(deep=True).sum()
    else:
        cfg = DatasetConfig(name="bench", source="file", path=str(path), target="cat_0")
        ds = load_dataset(cfg)
        seconds = time.perf_counter() - started
        size = ds.X.memory_usage(deep=True).sum() + ds.y.memory_usage(deep=True)
    return {
        "case": case,
        "seconds": seconds,
        "peak_mb": _maxrss_mb(),
        "base_mb": base,
        "frame_mb": size / 1e6,
    }


def _maxrss_mb() -> float:
    """This process's peak resident memory, MB.

    VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child would inherit the
    peak of the (possibly large) parent it was forked from.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_case(case: str, path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run(
        [sys.executable, __file__, "--child", case, str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per case; the fastest is reported"
    )
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--path", type=Path, default=None, help="the CSV (made if missing)")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return
    path = args.path or Path(tempfile.gettempdir()) / f"mlengine_bench_load_{args.rows}.csv"
    if not path.exists():
        started = time.perf_counter()
        make_csv(path, args.rows)
        print(f"made {path} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    size_mb = path.stat().st_size / 1e6
    load = os.getloadavg()[0]
    print(
        f"Loading benchmark: {args.rows:,} rows x 50 columns, CSV {size_mb:.0f} MB, "
        f"{os.cpu_count()} CPUs, load average {load:.1f}, best of {args.repeat}"
    )
    print(
        f"{'case':<48}{'seconds':>8}{'frame MB':>10}{'peak MB':>9}{'peak/frame':>12}"
        f"{'extra/frame':>13}"
    )
    for case in args.cases:
        result = min((run_case(case, path) for _ in range(args.repeat)), key=lambda r: r["seconds"])
        ratio = result["peak_mb"] / result["frame_mb"]
        extra = (result["peak_mb"] - result["base_mb"]) / result["frame_mb"]
        print(
            f"{LABELS[case]:<48}{result['seconds']:>8.2f}{result['frame_mb']:>10.0f}"
            f"{result['peak_mb']:>9.0f}{ratio:>12.2f}{extra:>13.2f}"
        )


if __name__ == "__main__":
    main()
