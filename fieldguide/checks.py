"""Exercises and concept questions that check themselves, offline, without showing the answer.

An exercise cell leaves ``answer = ...`` for the learner and calls ``check("03.next-token",
answer)``. The expected answer is not in the notebook: the course's answer key
(``data/exercises/NN.yaml``, one file per chapter) holds only a salted sha256 of each answer's
canonical form, and the hint. ``check`` says "not attempted", "not yet" with the hint, or
"correct". It never raises, so a notebook with open exercises still runs top to bottom, and the
hidden solution cell below each exercise proves the key accepts a right answer.

Answer kinds (``kind`` in the key):

- ``text``: the exact string (``normalise: true`` ignores case and surrounding spaces);
- ``choice``: a multiple-choice letter or name, case and spaces ignored;
- ``integer``: a whole number (``3`` and ``3.0`` are the same answer);
- ``number``: a float, rounded to ``decimals`` places, accepted one unit of the last place either
  side, so a learner's own rounding does not fail a right answer;
- ``list``: a sequence of strings or integers, in order (``ordered: false`` for a set);
- ``test``: no stored answer: the notebook passes ``test=``, a predicate, because the answer has
  many right forms (a tensor, a function) or depends on the learner's own run; the key keeps the hint.

Authors add or update an entry with ``python -m fieldguide answer ID VALUE --kind KIND``.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from functools import cache
from pathlib import Path
from typing import Any, Callable

import yaml

from fieldguide.resources import data_path

NOT_ATTEMPTED = "\u23f3"
WRONG = "\u274c"
RIGHT = "\u2705"
KINDS = ("text", "choice", "integer", "number", "list", "test")
KEY_FOLDER = "exercises"

# What the last ``check`` of each exercise said in this process (the autograder does not trust it:
# it grades with the key, see fieldguide.instructor).
RESULTS: dict[str, str] = {}


class AnswerError(ValueError):
    """An answer that cannot be put in the canonical form its kind needs."""


def _canonical_scalar(kind: str, value: Any, entry: dict[str, Any]) -> str:
    if kind == "text":
        if not isinstance(value, str):
            raise AnswerError(f"expected a string, got {type(value).__name__}")
        return value.strip().lower() if entry.get("normalise") else value
    if kind == "choice":
        if not isinstance(value, (str, numbers.Integral)) or isinstance(value, bool):
            raise AnswerError(f"expected a letter or a name, got {type(value).__name__}")
        return str(value).strip().lower()
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value).is_integer():
            raise AnswerError(f"expected a whole number, got {value!r}")
        return str(int(value))
    raise AnswerError(f"unknown kind {kind!r}")


def canonical_forms(entry: dict[str, Any], value: Any) -> list[str]:
    """The canonical strings that count as ``value`` for this key entry (several only for numbers)."""
    kind = entry["kind"]
    if kind == "test":
        raise AnswerError("this exercise has no stored answer: the notebook checks it with a test")
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            raise AnswerError(f"expected a number, got {value!r}")
        places = int(entry.get("decimals", 2))
        unit = round(float(value) * 10**places)
        return [f"{(unit + step) / 10**places:.{places}f}" for step in (0, -1, 1)]
    if kind == "list":
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise AnswerError(f"expected a list, got {type(value).__name__}")
        items = [_canonical_scalar(entry.get("items", "choice"), v, entry) for v in value]
        return [json.dumps(items if entry.get("ordered", True) else sorted(items))]
    return [_canonical_scalar(kind, value, entry)]


def digest(exercise_id: str, canonical: str) -> str:
    """The salted sha256 the key stores for one canonical answer."""
    return hashlib.sha256(f"fieldguide:{exercise_id}:{canonical}".encode()).hexdigest()


def key_file(exercise_id: str) -> str:
    """``exercises/NN.yaml``: the key file of the chapter an id such as ``03.next-token`` belongs to."""
    chapter, _, name = exercise_id.partition(".")
    if not chapter or not name:
        raise KeyError(f"exercise ids look like '03.next-token', not {exercise_id!r}")
    return f"{KEY_FOLDER}/{chapter}.yaml"


@cache
def _key(relative: str) -> dict[str, dict[str, Any]]:
    path = data_path(relative)
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {} if path.is_file() else {}


def entry(exercise_id: str) -> dict[str, Any]:
    """The answer-key entry of one exercise (kind, sha256, hint, ...)."""
    found = _key(key_file(exercise_id)).get(exercise_id)
    if found is None:
        raise KeyError(f"the course's answer key has no exercise {exercise_id!r}")
    return found


def is_right(exercise_id: str, answer: Any) -> bool:
    """Whether ``answer`` matches the key (raises AnswerError when it has the wrong form)."""
    key = entry(exercise_id)
    return any(digest(exercise_id, form) == key["sha256"] for form in canonical_forms(key, answer))


def check(exercise_id: str, answer: Any, *, test: Callable[[Any], bool] | None = None) -> None:
    """Print whether ``answer`` is right: not attempted, not yet (with the key's hint), or correct.

    The answer is compared with the course's key; pass ``test``, a predicate, instead for answers
    with many right forms (a function, an array), whose rightness the notebook can compute.
    """
    try:
        key = entry(exercise_id)
    except KeyError as error:
        print(f"{WRONG} {exercise_id}: {error.args[0]}; update the fieldguide package.")
        return
    hint = key.get("hint", "")
    if test is None and key["kind"] == "test":
        print(f"{WRONG} {exercise_id}: this exercise is checked by the notebook's own test; re-run its cell as given.")
        return
    if answer is Ellipsis:
        RESULTS[exercise_id] = "not attempted"
        print(f"{NOT_ATTEMPTED} {exercise_id}: not attempted yet; replace the `...` with your answer.")
        return
    try:
        correct = bool(test(answer)) if test is not None else is_right(exercise_id, answer)
    except AnswerError as error:
        correct, hint = False, f"{error}. {hint}"
    except Exception as error:  # a learner's half-finished answer must not stop the notebook
        correct, hint = False, f"checking raised {type(error).__name__}: {error}. {hint}"
    RESULTS[exercise_id] = "pass" if correct else "fail"
    if correct:
        print(f"{RIGHT} {exercise_id}: correct.")
    else:
        print(f"{WRONG} {exercise_id}: not yet. {('Hint: ' + hint) if hint else ''}".rstrip())


def record(exercise_id: str, value: Any, kind: str, *, hint: str = "", folder: Path | None = None, **options: Any) -> str:
    """Add or replace an exercise in the answer key (for authors); returns the key file's path."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    new = {"kind": kind, **options}
    if kind != "test":
        new["sha256"] = digest(exercise_id, canonical_forms(new, value)[0])
    if hint:
        new["hint"] = hint
    path = (folder / Path(key_file(exercise_id)).name) if folder else data_path(key_file(exercise_id))
    key = yaml.safe_load(path.read_text(encoding="utf-8")) or {} if path.is_file() else {}
    key[exercise_id] = new
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# The answer key of one chapter: salted sha256 of each answer, never the answer.\n"
    header += "# Edit with: python -m fieldguide answer ID VALUE --kind KIND [--hint ...]\n"
    path.write_text(header + yaml.safe_dump(dict(sorted(key.items())), sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")
    _key.cache_clear()
    return str(path)
