"""Exercises that check themselves, offline.

An exercise cell leaves ``answer = ...`` for the learner; ``check`` then says "not attempted",
"not yet" with a hint, or "correct". It never raises, so a notebook with open exercises still
runs top to bottom, and the hidden solution cell below it proves the check accepts a right answer.
"""

from __future__ import annotations

import math
from typing import Any, Callable

NOT_ATTEMPTED = "\u23f3"
WRONG = "\u274c"
RIGHT = "\u2705"


def _same(answer: Any, expected: Any, tolerance: float) -> bool:
    if isinstance(expected, float) or isinstance(answer, float):
        try:
            return math.isclose(float(answer), float(expected), rel_tol=tolerance, abs_tol=tolerance)
        except (TypeError, ValueError):
            return False
    if isinstance(expected, (list, tuple)) and isinstance(answer, (list, tuple)):
        return len(answer) == len(expected) and all(_same(a, e, tolerance) for a, e in zip(answer, expected))
    try:
        return bool(answer == expected)
    except Exception:  # e.g. arrays whose == is ambiguous
        return False


def check(
    name: str,
    answer: Any,
    expected: Any = None,
    *,
    test: Callable[[Any], bool] | None = None,
    hint: str = "",
    tolerance: float = 1e-3,
) -> None:
    """Print whether ``answer`` is right: not attempted, not yet (with the hint), or correct.

    Compare with ``expected`` (floats within ``tolerance``), or pass ``test``, a predicate, for
    answers with more than one right form.
    """
    if answer is Ellipsis:
        print(f"{NOT_ATTEMPTED} {name}: not attempted yet; replace the `...` with your answer.")
        return
    try:
        correct = test(answer) if test is not None else _same(answer, expected, tolerance)
    except Exception as error:  # a learner's half-finished answer must not stop the notebook
        correct, hint = False, f"checking raised {type(error).__name__}: {error}. {hint}"
    if correct:
        print(f"{RIGHT} {name}: correct.")
    else:
        print(f"{WRONG} {name}: not yet. {('Hint: ' + hint) if hint else ''}".rstrip())
