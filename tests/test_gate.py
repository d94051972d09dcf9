"""The quality gate's arithmetic: the noise a set's size allows, the floors, and the record it reads and writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.decision.gate import (
    ALL_LABELLED,
    Figures,
    Floors,
    GateError,
    judge,
    noise,
    read_record,
    write_record,
)

FLOORS = Floors(correct=0.85, wrong=0.03, oos_answered=0.05, z=1.645)
DEV = Figures("dev.yaml", "out of fold", in_scope=57, correct=54, wrong=2, out_of_scope=14, oos_answered=0)


def test_noise_grows_with_the_set_and_is_at_least_one_question() -> None:
    assert noise(54, 57, 1.645) == 4
    assert noise(0, 14, 1.645) == 2  # no errors recorded: some may still happen by chance
    assert noise(0, 1, 1.645) == 1  # at least one question
    assert noise(331, 356, 1.645) < noise(54, 57, 1.645) * 356 / 57  # relatively smaller on a larger set
    assert noise(0, 0, 1.645) == 0


def test_a_fall_within_noise_holds_and_one_beyond_it_does_not() -> None:
    within = Figures("dev.yaml", "out of fold", 57, 50, 5, 14, 2)
    assert judge({"dev.yaml": DEV}, {"dev.yaml": within}, FLOORS).problems == []
    beyond = Figures("dev.yaml", "out of fold", 57, 49, 6, 14, 3)
    verdict = judge({"dev.yaml": DEV}, {"dev.yaml": beyond}, FLOORS)
    assert len(verdict.shortfalls) == 3 and verdict.floors == []  # single labelled sets are too small for floors


def test_the_floors_bind_all_labelled_sets_together_whatever_the_record() -> None:
    poor = Figures(ALL_LABELLED, "out of fold", 100, 84, 4, 100, 6)
    verdict = judge({ALL_LABELLED: poor}, {ALL_LABELLED: poor}, FLOORS)  # recorded as it is: no shortfall
    assert verdict.shortfalls == [] and len(verdict.floors) == 3
    # A blind set is quoted as it came out and held to its record; the floors are for what is fitted.
    blind = Figures("blind9.yaml", "shipped policy", 100, 80, 1, 100, 6)
    assert judge({"blind9.yaml": blind}, {"blind9.yaml": blind}, FLOORS).problems == []


def test_a_changed_or_missing_set_is_named() -> None:
    grown = Figures("dev.yaml", "out of fold", 60, 57, 2, 14, 0)
    assert "74 questions, the record has 71" in judge({"dev.yaml": DEV}, {"dev.yaml": grown}, FLOORS).shortfalls[0]
    assert judge({}, {"dev.yaml": DEV}, FLOORS).shortfalls == ["dev.yaml: not in the record (record it with "
                                                               "`make calibrate`)"]


def test_the_record_is_written_between_its_markers_and_read_back(tmp_path: Path) -> None:
    doc = tmp_path / "quality.md"
    doc.write_text("# Quality\n\nbefore\n<!-- quality-gate: held -->\nold\n<!-- /quality-gate -->\nafter\n")
    figures = [DEV, Figures(ALL_LABELLED, "out of fold", 356, 331, 6, 67, 0),
               Figures("blind1.yaml", "shipped policy", 188, 177, 2, 74, 2)]
    write_record(figures, FLOORS.z, doc)
    text = doc.read_text()
    assert text.startswith("# Quality\n\nbefore\n<!-- quality-gate: held -->\n| set |") and text.endswith(
        "<!-- /quality-gate -->\nafter\n")
    assert "≥ 50 correct, ≤ 5 wrong, ≤ 2 out of scope answered" in text
    assert read_record(doc) == {f.name: f for f in figures}


def test_a_document_without_the_table_is_one_clear_error(tmp_path: Path) -> None:
    doc = tmp_path / "quality.md"
    doc.write_text("# Quality\n")
    with pytest.raises(GateError, match="no table between"):
        read_record(doc)
    with pytest.raises(GateError, match="cannot read it"):
        read_record(tmp_path / "absent.md")


def test_calibrating_records_a_new_or_edited_set_as_it_is_but_the_gate_does_not() -> None:
    grown = Figures("dev.yaml", "out of fold", 60, 50, 2, 14, 0)
    new = Figures("styles.yaml", "out of fold", 100, 80, 2, 40, 1)
    measured = {"dev.yaml": grown, "styles.yaml": new}
    assert judge({"dev.yaml": DEV}, measured, FLOORS, recording=True).problems == []
    assert len(judge({"dev.yaml": DEV}, measured, FLOORS).shortfalls) == 2
