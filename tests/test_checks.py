"""Exercise checks: not attempted, wrong with a hint, right; never an exception."""

from __future__ import annotations

import numpy as np

from fieldguide import check


def test_placeholder_is_not_attempted(capsys):
    check("q1", ..., expected=1)
    assert capsys.readouterr().out == "\u23f3 q1: not attempted yet; replace the `...` with your answer.\n"


def test_wrong_answer_shows_the_hint(capsys):
    check("q1", 2, expected=1, hint="look at argmax")
    assert capsys.readouterr().out == "\u274c q1: not yet. Hint: look at argmax\n"


def test_floats_compare_within_tolerance_and_sequences_elementwise(capsys):
    check("close", 0.33331, expected=1 / 3)
    check("list", [1, 2.0004], expected=(1, 2.0))
    check("far", 0.4, expected=1 / 3)
    assert capsys.readouterr().out.splitlines() == ["\u2705 close: correct.", "\u2705 list: correct.", "\u274c far: not yet."]


def test_a_predicate_that_raises_is_reported_not_raised(capsys):
    check("shape", np.zeros(3), test=lambda a: a.shape[1] == 3, hint="two dimensions")
    assert capsys.readouterr().out.startswith("\u274c shape: not yet. Hint: checking raised IndexError")


def test_arrays_with_ambiguous_equality_do_not_crash(capsys):
    check("array", np.array([1, 2]), expected=np.array([1, 2]))
    assert capsys.readouterr().out.startswith("\u274c array")
