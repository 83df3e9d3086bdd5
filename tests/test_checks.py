"""Exercise checks: not attempted, wrong with a hint, right; never an exception; no answer in sight."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from fieldguide import checks
from fieldguide.checks import check


@pytest.fixture
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An answer key in a temporary data folder, with one exercise of each kind."""
    monkeypatch.setattr(checks, "data_path", lambda name: tmp_path / name)
    checks._key.cache_clear()
    folder = tmp_path / "exercises"
    checks.record("99.word", " cold", "text", hint="decode the argmax", folder=folder)
    checks.record("99.name", "Paris", "text", normalise=True, folder=folder)
    checks.record("99.letter", "b", "choice", folder=folder)
    checks.record("99.count", 24, "integer", folder=folder)
    checks.record("99.ratio", 0.3349, "number", decimals=3, folder=folder)
    checks.record("99.steps", ["tokenize", "embed"], "list", items="text", folder=folder)
    checks.record("99.bag", ["b", "a"], "list", ordered=False, folder=folder)
    yield folder
    checks._key.cache_clear()


def said(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_the_key_holds_hashes_not_answers(key):
    text = (key / "99.yaml").read_text()
    assert "cold" not in text and "Paris" not in text and "0.33" not in text and "tokenize" not in text
    assert yaml.safe_load(text)["99.word"]["sha256"] == checks.digest("99.word", " cold")


def test_placeholder_is_not_attempted(key, capsys):
    check("99.word", ...)
    assert said(capsys) == ["\u23f3 99.word: not attempted yet; replace the `...` with your answer."]
    assert checks.RESULTS["99.word"] == "not attempted"


def test_wrong_answer_shows_the_keys_hint_and_right_answer_passes(key, capsys):
    check("99.word", " warm")
    check("99.word", " cold")
    assert said(capsys) == ["\u274c 99.word: not yet. Hint: decode the argmax", "\u2705 99.word: correct."]


def test_each_kind_accepts_its_right_forms(key, capsys):
    for exercise, answer in [("99.name", "  paris "), ("99.letter", " B"), ("99.count", 24.0),
                             ("99.ratio", 0.335), ("99.ratio", 0.3344), ("99.steps", ("tokenize", "embed")),
                             ("99.bag", ["a", "b"])]:
        check(exercise, answer)
    assert all(line.endswith("correct.") for line in said(capsys))


def test_each_kind_rejects_wrong_forms(key, capsys):
    for exercise, answer in [("99.word", "cold"), ("99.letter", "c"), ("99.count", 24.5), ("99.count", True),
                             ("99.ratio", 0.338), ("99.ratio", "0.335"), ("99.steps", ["embed", "tokenize"]),
                             ("99.bag", "ab")]:
        check(exercise, answer)
    lines = said(capsys)
    assert len(lines) == 8 and all(": not yet." in line for line in lines), lines


def test_a_predicate_exercise_keeps_its_hint_in_the_key(key, capsys):
    checks.record("99.tensor", None, "test", hint="undo the scaling first", folder=key)
    check("99.tensor", 3, test=lambda a: a == 4)
    check("99.tensor", 4, test=lambda a: a == 4)
    check("99.tensor", 4)
    assert said(capsys) == ["\u274c 99.tensor: not yet. Hint: undo the scaling first", "\u2705 99.tensor: correct.",
                            "\u274c 99.tensor: this exercise is checked by the notebook's own test; re-run its cell as given."]


def test_a_predicate_that_raises_is_reported_not_raised(key, capsys):
    check("99.word", np.zeros(3), test=lambda a: a.shape[1] == 3)
    assert said(capsys)[0].startswith("\u274c 99.word: not yet. Hint: checking raised IndexError")


def test_an_unknown_exercise_is_one_sentence(key, capsys):
    check("99.nothing", 1)
    assert said(capsys) == ["\u274c 99.nothing: the course's answer key has no exercise '99.nothing'; update the fieldguide package."]


def test_every_key_entry_is_well_formed():
    folder = Path(checks.data_path(checks.KEY_FOLDER))
    for path in sorted(folder.glob("*.yaml")):
        for exercise, entry in (yaml.safe_load(path.read_text()) or {}).items():
            assert exercise.startswith(path.stem + "."), f"{exercise} belongs in {exercise.split('.')[0]}.yaml"
            assert entry["kind"] in checks.KINDS, exercise
            assert (entry["kind"] == "test") == ("sha256" not in entry), f"{exercise}: a hash unless kind is test"
            if entry["kind"] != "test":
                assert len(entry["sha256"]) == 64, exercise
