"""EDA on what a table's structure reveals: repeated entities, IDs by shape, order leakage.

Every table is synthetic, and no column name hints at its role ("ref", "tag", "seq"): the
checks must work from the values.
"""

from __future__ import annotations

import os
import shlex
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlengine.eda import EdaReport, EdaSettings, run_eda
from mlengine.eda.structure import id_shape, order_association, sequential_counter, split_overlap
from tests.helpers import run_cli

SETTINGS = EdaSettings(plots=False)


def _findings(report: EdaReport, check: str) -> list:
    return [f for f in report.findings if f.check == check]


def _entity_table(
    n_entities: int = 250, seed: int = 0, shuffled: bool = False
) -> tuple[pd.DataFrame, pd.Series]:
    """Each entity observed 3-6 times; its outcome is mostly its own (a latent offset), and
    two entity-level attributes let a model memorise the entity. Stored entity by entity,
    as a panel is (`shuffled`: rows in random order)."""
    rng = np.random.default_rng(seed)
    repeats = rng.integers(3, 7, n_entities)
    entity = np.repeat(np.arange(n_entities), repeats)
    offset, height, weight = rng.normal(size=(3, n_entities))
    n = len(entity)
    visit = rng.normal(size=n)
    z = 2.5 * offset[entity] + 0.3 * visit + rng.normal(scale=0.3, size=n)
    X = pd.DataFrame(
        {
            "ref": entity * 7 + 1000,  # integers, not a counter, no telling name
            "height": height[entity] + rng.normal(scale=0.01, size=n),
            "weight": weight[entity] + rng.normal(scale=0.01, size=n),
            "visit": visit,
        }
    )
    order = rng.permutation(n) if shuffled else np.arange(n)
    return X.iloc[order].reset_index(drop=True), pd.Series((z > 0).astype(int)[order])


def _clean_table(n: int = 1200, seed: int = 1) -> tuple[pd.DataFrame, pd.Series]:
    """Independent rows: integers that repeat (an age, a count), codes that are categories."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, n)
    items = rng.poisson(3, n)
    x = rng.normal(size=n)
    grade = rng.choice([f"G{i}" for i in range(8)], n)  # letter+digit, but only 8 levels
    z = x + 0.03 * (age - 50) + rng.normal(size=n)
    X = pd.DataFrame({"age": age, "items": items, "x": x, "grade": grade})
    return X, pd.Series((z > 0).astype(int))


# ---- the measurements ----------------------------------------------------------------------


def test_id_shapes_are_told_from_their_values() -> None:
    rng = np.random.default_rng(0)
    n = 300
    shapes = {
        "uuid": [str(uuid.UUID(int=int(v))) for v in rng.integers(0, 2**62, n)],
        "hash": [f"{v:016x}" for v in rng.integers(2**60, 2**62, n)],
        "zero-padded": [f"{v:06d}" for v in rng.integers(0, 50_000, n)],
        "code": [f"AB-{v:05d}" for v in rng.integers(0, 99_999, n)],
    }
    for expected, values in shapes.items():
        assert id_shape(pd.Series(values * 3)) == expected, expected  # repeats change nothing
    assert id_shape(pd.Series([f"N{v}A{v % 7}" for v in range(100)])) == "code"
    not_ids = {
        "words": [f"the {w} one" for w in rng.choice(list("abcdefghijklmnopqrstuvwxyz"), n)],
        "few levels": [f"G{v}" for v in rng.integers(0, 8, n)],
        "plain numbers": [str(v) for v in rng.integers(1, 5_000, n)],
        "mixed text": [f"item {v} of lot {v % 3} ok" if v % 2 else f"x{v}" for v in range(n)],
    }
    for name, values in not_ids.items():
        assert id_shape(pd.Series(values)) is None, name


def test_a_sequential_counter_counts_with_the_rows() -> None:
    assert sequential_counter(np.arange(500, dtype=float))
    assert sequential_counter(np.repeat(np.arange(100), 3).astype(float))  # repeats: batches
    assert not sequential_counter(np.random.default_rng(0).permutation(500).astype(float))
    assert not sequential_counter(np.sort(np.random.default_rng(0).normal(size=500)))
    assert not sequential_counter(np.arange(0, 1000, 10, dtype=float))  # sorted, not a count


def test_overlap_and_order_association_measure_what_they_say() -> None:
    entities = np.repeat(np.arange(100), 5)
    assert split_overlap(entities, 0.2, seed=0) > 0.9
    assert split_overlap(np.arange(500), 0.2, seed=0) == 0.0
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 1000)
    assert order_association(np.argsort(np.argsort(y, kind="stable")), y, True) > 0.8
    assert order_association(rng.permutation(1000), y, True) < 0.1
    three = rng.integers(0, 3, 900)
    assert order_association(np.argsort(np.argsort(three, kind="stable")), three, True) > 0.8


# ---- the checks in a report ----------------------------------------------------------------


@pytest.fixture(scope="module")
def entity_report() -> EdaReport:
    X, y = _entity_table()
    return run_eda(X, y, "classification", SETTINGS, seed=0)


def test_a_repeated_entity_is_reported_with_overlap_both_scores_and_the_fix(
    entity_report: EdaReport,
) -> None:
    (found,) = _findings(entity_report, "repeated_entity")
    ev = found.evidence
    assert found.columns == ["ref"] and found.severity == "warn"
    assert ev["holdout_overlap"] > 0.9  # nearly every holdout row's entity is in training
    assert ev["cv_row_wise"] - ev["cv_grouped"] >= 0.1  # memorised entities inflate the score
    assert ev["rows_in_blocks"] and ev["residual_icc"] >= 0.3  # its rows agree
    assert found.overrides == ["dataset.split_by=ref"]
    for number in (f"{ev['holdout_overlap']:.0%}", f"{ev['cv_row_wise']:.3f}"):
        assert number in found.message
    assert "dataset.split_by=ref" in found.message
    assert "dataset.split_by=ref" in entity_report.suggested_overrides()


def test_a_plain_integer_in_random_row_order_is_no_entity() -> None:
    # the same panel, shuffled: nothing but the rows' agreement says `ref` is an entity, and
    # an informative category agrees as much (a zip code): no role, no finding
    X, y = _entity_table(shuffled=True)
    report = run_eda(X, y, "classification", SETTINGS, seed=0)
    assert not _findings(report, "repeated_entity")


def test_ids_by_shape_are_flagged_even_when_values_repeat() -> None:
    rng = np.random.default_rng(2)
    n = 900
    batch = np.repeat(np.arange(n // 3), 3)  # counts with the rows, each value on 3 rows
    owner = rng.integers(0, 150, n)  # an entity with its own outcome offset
    offset = rng.normal(size=150)
    x = rng.normal(size=n)
    X = pd.DataFrame(
        {
            "seq": batch,
            "tag": [f"{v:032x}" for v in rng.integers(0, 2**62, 200)[rng.integers(0, 200, n)]],
            "lot": [f"N{v}A{v % 9}" for v in owner],  # letter+digit code, rows alike
            "x": x,
        }
    )
    y = pd.Series((x + 2 * offset[owner] + rng.normal(size=n) > 0).astype(int))
    report = run_eda(X, y, "classification", SETTINGS, seed=0)
    flagged = {
        c for f in report.findings if f.check in ("id_like", "repeated_entity") for c in f.columns
    }
    assert {"seq", "tag", "lot"} <= flagged
    assert "x" not in flagged
    assert not {"seq", "tag"} & {r.column for r in report.relevance if r.verdict == "useful"}


def test_a_row_counter_of_a_table_sorted_by_target_is_a_leakage_suspect() -> None:
    rng = np.random.default_rng(3)
    n = 1000
    x = rng.normal(size=n)
    y = (x + rng.normal(size=n) > 0).astype(int)
    order = np.argsort(y, kind="stable")  # the rows arrive sorted by outcome
    X = pd.DataFrame({"n": np.arange(n), "x": x[order]})
    report = run_eda(X, pd.Series(y[order]), "classification", SETTINGS, seed=0)
    suspects = [f for f in _findings(report, "leakage") if f.columns == ["n"]]
    assert suspects and "sorted" in suspects[0].message
    assert "n" not in {r.column for r in report.relevance if r.verdict == "useful"}
    assert "n" in report.drop_reasons


def test_none_of_the_structure_checks_fires_on_independent_rows() -> None:
    X, y = _clean_table()
    report = run_eda(X, y, "classification", SETTINGS, seed=0)
    fired = {
        c
        for f in report.findings
        if f.check in ("id_like", "repeated_entity", "leakage")
        for c in f.columns
    }
    assert not fired, [f.message for f in report.findings if set(f.columns) & fired]
    assert report.suggested_overrides() == []


# ---- the report's command line -------------------------------------------------------------


@pytest.mark.slow
def test_the_suggested_command_runs_as_printed_and_applies_the_advice(workdir: Path) -> None:
    X, y = _entity_table(n_entities=150)
    X.insert(0, "row no", np.arange(len(X)))  # a row counter, with a space in its name
    X["outcome"] = np.where(y == 1, "yes", "no")
    X.to_csv(workdir / "visits.csv", index=False)
    first = run_cli(
        ["dataset=csv", "dataset.path=visits.csv", "dataset.target=outcome"]
        + ["search.n_trials=1", "export.enabled=false", "eda.plots=false"],
        workdir,
    )
    assert first.returncode == 0, first.stderr[-3000:]
    (line,) = [x for x in first.stdout.splitlines() if "apply the advice: " in x]
    command = shlex.split(line.split("apply the advice: ", 1)[1])
    assert command[0] == "mlengine" and "dataset.split_by=ref" in command
    assert "features.drop=['row no']" in command
    eda_md = next((workdir / "outputs" / "runs").glob("*/eda/eda.md")).read_text()
    assert eda_md.rstrip().endswith(f"{shlex.join(command)}\n```")

    second = run_cli(command[1:], workdir)
    assert second.returncode == 0, second.stderr[-3000:]
    configs = sorted((workdir / "outputs" / "runs").glob("*/config.yaml"), key=os.path.getmtime)
    assert len(configs) == 2
    saved = yaml.safe_load(configs[-1].read_text())
    assert saved["dataset"]["split_by"] == "ref"
    assert saved["features"]["drop"] == ["row no"]
    assert saved["search"]["n_trials"] == 1  # the user's own overrides are kept
