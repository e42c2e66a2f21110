"""EDA speed and memory at scale: seconds, peak RSS / DataFrame size, growth with rows.

Each size runs in a fresh child process so its peak RSS is its own. The child builds a
mixed-type table column by column (35 float columns with some NaN, 6 integer columns,
5 string categoricals, 2 booleans, 1 datetime, 1 entity id; a binary target), imports and
warms up the EDA on a tiny table, resets the kernel's peak-RSS mark, then times
`run_eda` and, separately, `report.write` (JSON, Markdown, PNGs).

    python benchmarks/bench_eda.py                      # 10k, 100k and 1M rows x 50 columns
    python benchmarks/bench_eda.py --rows 10000 100000 --task regression
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make_table(
    n: int, seed: int = 0, task: str = "classification"
) -> tuple[pd.DataFrame, pd.Series]:
    """A 50-column table with known structure, built one column at a time (low peak)."""
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {}
    z = np.zeros(n)
    for i in range(35):
        x = rng.normal(size=n)
        if i < 5:
            z += x * (1.0 / (i + 1))
        if i % 7 == 3:
            x[rng.random(n) < 0.05] = np.nan
        cols[f"num_{i}"] = x
    for i in range(6):
        cols[f"int_{i}"] = rng.integers(0, 1000, size=n)
    for i, levels in enumerate((5, 20, 50, 200, 500)):
        pool = np.array([f"level_{j}" for j in range(levels)])
        codes = rng.integers(0, levels, size=n)
        if i == 0:
            z += 0.5 * (codes == 0)
        cols[f"cat_{i}"] = pd.Series(pool[codes], dtype="str")
    cols["flag_0"] = rng.random(n) < 0.3
    cols["flag_1"] = rng.random(n) < 0.01
    cols["date"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(
        rng.integers(0, 3 * 365 * 86400, size=n), unit="s"
    )
    cols["customer_id"] = rng.integers(0, max(n // 10, 1), size=n)
    X = pd.DataFrame(cols)
    noise = rng.normal(size=n)
    y = (z + noise > 0).astype(np.int64) if task == "classification" else z + noise
    return X, pd.Series(y, name="target")


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _release_free_memory() -> None:
    """Return freed heap pages to the OS so RSS before the EDA is the live data only."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(ImportError):
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def child(rows: int, task: str, sample_rows: int) -> dict[str, float]:
    """One measurement; prints a JSON line."""
    from mlengine.eda import EdaSettings, run_eda

    settings = EdaSettings(sample_rows=sample_rows)
    small_X, small_y = make_table(2_000, seed=1, task=task)
    with tempfile.TemporaryDirectory() as tmp:  # warm-up: imports, matplotlib fonts
        run_eda(small_X, small_y, task, settings).write(Path(tmp))
    rss_start = _status_kb("VmRSS") * 1024  # interpreter + libraries, before the table
    X, y = make_table(rows, task=task)
    df_bytes = int(X.memory_usage(deep=True, index=True).sum())
    _release_free_memory()  # building the table left freed-but-held heap pages
    rss_before = _status_kb("VmRSS") * 1024
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS mark (VmHWM)
        peak_source = "VmHWM"
    except OSError:
        peak_source = "ru_maxrss (includes building the table)"
    t0 = time.perf_counter()
    report = run_eda(X, y, task, settings)
    t_eda = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        report.write(Path(tmp))
        t_write = time.perf_counter() - t0
    peak = (
        _status_kb("VmHWM") * 1024
        if peak_source == "VmHWM"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    return {
        "rows": rows,
        "cols": X.shape[1],
        "seconds": round(t_eda, 2),
        "write_seconds": round(t_write, 2),
        "df_mb": round(df_bytes / 2**20, 1),
        "rss_start_mb": round(rss_start / 2**20, 1),
        "rss_before_mb": round(rss_before / 2**20, 1),
        "peak_rss_mb": round(peak / 2**20, 1),
        "peak_over_df": round(peak / df_bytes, 2),
        "extra_over_df": round((peak - rss_before) / df_bytes, 2),
        "sampled": report.sampled,
        "n_rows_used": report.n_rows_used,
        "leaks": len(report.leakage),
        "timings": report.timings,
        "peak_source": peak_source,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--task", choices=["classification", "regression"], default="classification"
    )
    parser.add_argument("--sample-rows", type=int, default=50_000)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.task, args.sample_rows)))
        return
    results = []
    for rows in args.rows:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            str(rows),
            "--task",
            args.task,
            "--sample-rows",
            str(args.sample_rows),
        ]
        out = subprocess.run(
            cmd,
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(f"  {rows:>9,} rows: {r['seconds']:.2f}s  timings {r['timings']}", file=sys.stderr)
    print(
        f"EDA benchmark ({args.task}, {results[0]['cols']} columns, sample_rows="
        f"{args.sample_rows:,}, {os.cpu_count()} CPUs)"
    )
    print(
        f"{'rows':>10} {'seconds':>8} {'write s':>8} {'df MB':>8} {'peak RSS MB':>12} "
        f"{'peak/df':>8} {'extra/df':>9} {'rows ratio':>11} {'time ratio':>11}"
    )
    for prev, r in zip([None, *results[:-1]], results, strict=True):
        rows_ratio = f"{r['rows'] / prev['rows']:.0f}x" if prev else "-"
        time_ratio = f"{r['seconds'] / prev['seconds']:.2f}x" if prev else "-"
        print(
            f"{r['rows']:>10,} {r['seconds']:>8.2f} {r['write_seconds']:>8.2f} "
            f"{r['df_mb']:>8.1f} {r['peak_rss_mb']:>12.1f} {r['peak_over_df']:>8.2f} "
            f"{r['extra_over_df']:>9.2f} {rows_ratio:>11} {time_ratio:>11}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
