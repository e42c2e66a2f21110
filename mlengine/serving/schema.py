"""The table schema: what each column of the user's table is, decided once, by the loader.

One frozen, JSON-serialisable description. Per column: its kind (numeric, boolean,
categorical, datetime, text, id), the dtype it arrived in, how its raw values are read (the
loader's note, e.g. "1,234"-style thousands or "12%", and text dates' formats), and its role:
`feature`, `target`, `id`, `group` (dataset.split_by), `time` (dataset.time_column) or
`dropped`, with the reason. The missing-value markers are the table's; `markers_read` says
which words ("none", "-") a column read as missing, and in how many cells.

The run logs it as `schema.json` on the parent run and saves it in the exported model
folder, so what a served model expects can be read without the training code.
`dataset.column_types.COLUMN=KIND` edits a kind; the loader applies it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

SCHEMA_FILE = "schema.json"
SCHEMA_VERSION = 1
ROLES = ("feature", "target", "id", "group", "time", "dropped")


@dataclass(frozen=True)
class ColumnSchema:
    name: str
    kind: str
    arrived_as: str  # the dtype as read (object, int64, float64, bool, datetime64[ns], ...)
    role: str
    reason: str = ""  # why a column is not a feature
    parsing: str = ""  # how the raw values are read, when not as they are
    date_formats: tuple[str, ...] = ()
    markers_read: dict[str, int] = field(default_factory=dict)  # word marker -> cells missing


@dataclass(frozen=True)
class TableSchema:
    task: str
    columns: tuple[ColumnSchema, ...]
    missing_markers: tuple[str, ...] = ()
    version: int = field(default=SCHEMA_VERSION)

    def column(self, name: str) -> ColumnSchema:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def kinds(self) -> dict[str, str]:
        """Every column but the target -> its kind."""
        return {c.name: c.kind for c in self.columns if c.role != "target"}

    def features(self) -> list[str]:
        return [c.name for c in self.columns if c.role == "feature"]

    def dropping(self, reasons: Mapping[str, str]) -> TableSchema:
        """The same schema with more columns not used as features (column -> reason)."""
        columns = tuple(
            replace(c, role="dropped", reason=reasons[c.name])
            if c.name in reasons and c.role == "feature"
            else c
            for c in self.columns
        )
        return replace(self, columns=columns)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, folder: Path) -> Path:
        path = Path(folder) / SCHEMA_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def read(cls, path: Path) -> TableSchema:
        data = json.loads(Path(path).read_text())
        columns = tuple(
            ColumnSchema(**{**c, "date_formats": tuple(c.get("date_formats", ()))})
            for c in data["columns"]
        )
        return cls(data["task"], columns, tuple(data.get("missing_markers", ())), data["version"])


def build_schema(
    task: str,
    target: tuple[str, str],
    features: Iterable[tuple[str, str, str]],
    *,
    roles: Mapping[str, tuple[str, str]],
    parsing: Mapping[str, str],
    date_formats: Mapping[str, list[str]],
    missing_markers: Iterable[str],
    markers_read: Mapping[str, dict[str, int]] | None = None,
) -> TableSchema:
    """`target`: (name, dtype as read); `features`: (name, kind, dtype as read) in table
    order; `roles`: column -> (role, reason) for every column that is not a plain feature."""
    label = "categorical" if task == "classification" else "numeric"
    columns = [ColumnSchema(target[0], label, target[1], "target")]
    for name, kind, arrived_as in features:
        role, reason = roles.get(name, ("id", "") if kind == "id" else ("feature", ""))
        columns.append(
            ColumnSchema(
                name,
                kind,
                arrived_as,
                role,
                reason,
                parsing.get(name, ""),
                tuple(date_formats.get(name, ())),
                dict((markers_read or {}).get(name, {})),
            )
        )
    return TableSchema(task, tuple(columns), tuple(missing_markers))
