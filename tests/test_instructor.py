"""The instructor edition: student notebooks and the autograder, on small fixture chapters (98, 97).

The fixtures are in tests/fixtures/submissions (re-made by its make.py); their answer key is
recorded here in a temporary folder, as tests/test_checks.py does.
"""

from __future__ import annotations

import copy
import csv
import json
import time
from pathlib import Path

import pytest

from fieldguide import checks, cli, instructor

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "submissions"
COURSE = FIXTURES / "course"
BATCH = FIXTURES / "batch"


@pytest.fixture
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture chapters' answer key in a temporary data folder (98.squares has only its test=)."""
    monkeypatch.setattr(checks, "data_path", lambda name: tmp_path / "data" / name)
    checks._key.cache_clear()
    folder = tmp_path / "data" / "exercises"
    checks.record("98.capital", "Paris", "text", normalise=True, hint="a city in France", folder=folder)
    checks.record("98.sum", 45, "integer", hint="range(n) stops before n", folder=folder)
    checks.record("98.mean", 2.33, "number", decimals=2, folder=folder)
    checks.record("98.concept-list", "b", "choice", folder=folder)
    checks.record("97.double", 42, "integer", folder=folder)
    checks.record("97.concept-loop", "a", "choice", folder=folder)
    yield folder
    checks._key.cache_clear()


def cell(text: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": text}


# --- student notebooks -------------------------------------------------------------------------

def test_reset_answer_keeps_the_placeholder_and_resets_any_other_answer():
    assert instructor.reset_answer('answer = "Paris"  # mine\nfg.check("98.capital", answer)') == \
        'answer = ...  # your answer here\nfg.check("98.capital", answer)'
    assert instructor.reset_answer("answer = [\n    1,\n    2,\n]\nfg.check('98.x', answer)\n") == \
        "answer = ...  # your answer here\nfg.check('98.x', answer)\n"
    assert instructor.reset_answer("answer = ...  # a hint\nx = answer") == "answer = ...  # a hint\nx = answer"
    assert instructor.reset_answer("for i in range(3):\n    answer = i\n") == "for i in range(3):\n    answer = i\n"


def test_student_edition_of_the_fixture_chapter():
    course = instructor.read_notebook(COURSE / "98-fixture.ipynb")
    student = instructor.student_edition(course)
    texts = [instructor.source(c) for c in student["cells"]]
    assert not any(instructor.is_solution(c) for c in student["cells"])
    assert "Solution (click to show)" not in texts, "the caption of a removed solution goes with it"
    assert [e.id for e in instructor.exercises(student)] == [e.id for e in instructor.exercises(course)]
    for exercise in instructor.exercises(student):
        shown = student["cells"][exercise.cell]
        assert instructor.source(shown).startswith("answer = ...") and shown["outputs"] == [] and shown["execution_count"] is None
    assert student["cells"][1] == course["cells"][1], "cells that are not exercises keep their stored outputs"
    assert len(student["cells"]) == len(course["cells"]) - 2 * 5
    assert course == instructor.read_notebook(COURSE / "98-fixture.ipynb"), "the instructor copy is not changed"
    assert student["metadata"]["fieldguide"] == {"edition": "student"}


def test_the_student_command_is_deterministic(tmp_path: Path, capsys):
    for out in ("one", "two"):
        assert cli.main(["student", str(tmp_path / out), "--course", str(COURSE)]) == 0
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == ["97-other.ipynb", "98-fixture.ipynb"]
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert "wrote" in capsys.readouterr().out


def test_student_editions_of_the_course_chapters(tmp_path: Path):
    """Every chapter of notebooks/: same exercises in the same order, no solution, nothing that says correct."""
    written, _ = instructor.write_student_editions(tmp_path)
    course = instructor.course_notebooks()
    assert [p.name for p in written] == [p.name for p in course.values()] and written
    for path in written:
        original = instructor.read_notebook(course[path.name[:2]])
        student = json.loads(path.read_text(encoding="utf-8"))
        assert [e.id for e in instructor.exercises(student)] == [e.id for e in instructor.exercises(original)], path.name
        assert not any(instructor.is_solution(c) for c in student["cells"]), path.name
        for exercise in instructor.exercises(student):
            shown = student["cells"][exercise.cell]
            assert shown["outputs"] == [], f"{path.name}: {exercise.id} keeps an output"
            assert "answer = ..." in instructor.source(shown), f"{path.name}: {exercise.id} is not reset"
        said = json.dumps([c.get("outputs", []) for c in student["cells"]])
        assert ": correct." not in said, f"{path.name}: an output shows a passing answer"
        kept = [c for c in student["cells"] if c.get("outputs")]
        assert kept, f"{path.name}: the student edition keeps the chapter's other outputs"


def test_names_that_only_a_solution_defines_are_reported():
    nb = {"cells": [cell("answer = ...\nfg.check('98.a', answer)"),
                    {**cell("scores = [1, 2]\nanswer = 0\nfg.check('98.a', answer)"), "metadata": {"tags": ["hide-cell"]}},
                    cell("print(scores)")]}
    assert instructor.solution_only_names(nb) == ["cell 3 uses `scores`, which only the solution in cell 2 defines"]


# --- the autograder ----------------------------------------------------------------------------

EXPECTED = {
    "alice-all-correct.ipynb": ["pass"] * 5,
    "bob-all-wrong.ipynb": ["fail"] * 5,
    "carol-not-attempted.ipynb": ["not attempted"] * 5,
    "dan-raises.ipynb": ["pass", "error", "not attempted", "pass", "pass"],
    "eve-infinite-loop.ipynb": ["pass", "error", "error", "error", "error"],
    "frank-tampers.ipynb": ["fail"] * 5,
    "grace-corrupt.ipynb": ["error"],
    "heidi-98-fixture.ipynb": ["pass", "pass"],
}
EXERCISES_98 = ["98.capital", "98.sum", "98.mean", "98.squares", "98.concept-list"]


def test_the_fixture_batch_gets_the_right_grades_and_messages(key: Path, tmp_path: Path, capsys):
    started = time.monotonic()
    code = cli.main(["grade", str(BATCH), "--out", str(tmp_path / "grades.csv"), "--course", str(COURSE), "--timeout", "8"])
    seconds = time.monotonic() - started
    assert code == 0
    rows = list(csv.DictReader((tmp_path / "grades.csv").open(encoding="utf-8")))
    by_file: dict[str, list[dict]] = {}
    for row in rows:
        by_file.setdefault(row["file"], []).append(row)
    assert {name: [r["status"] for r in graded] for name, graded in by_file.items()} == EXPECTED
    for name in EXPECTED:
        if name.startswith(("alice", "bob", "carol", "dan", "eve", "frank")):
            assert [r["exercise"] for r in by_file[name]] == EXERCISES_98 and {r["chapter"] for r in by_file[name]} == {"98"}
    said = {(r["file"].split("-")[0], r["exercise"]): r for r in rows}
    assert said["bob", "98.capital"]["message"] == "hint: a city in France"
    assert said["bob", "98.squares"]["message"] == "the course's test rejects this answer"
    assert said["carol", "98.sum"]["message"] == "`answer` is still `...`"
    assert said["dan", "98.sum"]["message"] == "the exercise cell (cell 6) raised ZeroDivisionError: division by zero"
    assert said["eve", "98.sum"]["message"] == "timed out (the 8 s limit per notebook) in this exercise's cell"
    assert said["eve", "98.mean"]["message"] == "not reached: timed out (the 8 s limit per notebook) in cell 6"
    assert "assigns `fg.check`" in said["frank", "98.capital"]["notes"]
    assert "assigns `fieldguide.checks.is_right`" in said["frank", "98.capital"]["notes"]
    assert said["grace", ""]["message"].startswith("not a readable notebook (JSONDecodeError")
    assert said["heidi", "97.double"]["notes"] == "the file name says chapter 98, the notebook is chapter 97: graded as chapter 97"
    feedback = tmp_path / "feedback"
    assert sorted(p.name for p in feedback.iterdir()) == sorted(Path(name).stem + ".md" for name in EXPECTED)
    assert "**5 of 5**" in (feedback / "alice-all-correct.md").read_text()
    assert "hint: a city in France" in (feedback / "bob-all-wrong.md").read_text()
    print(f"graded {len(EXPECTED)} fixture submissions in {seconds:.1f} s")
    assert f"wrote {tmp_path / 'grades.csv'}" in capsys.readouterr().out


def test_a_rewritten_key_file_is_restored_and_flagged_and_memory_is_capped(key: Path, tmp_path: Path):
    student = instructor.student_edition(instructor.read_notebook(COURSE / "98-fixture.ipynb"))
    capital = next(e for e in instructor.exercises(student) if e.id == "98.capital")
    forge = tmp_path / "subs" / "mallory.ipynb"
    forged = copy.deepcopy(student)
    forged["cells"][capital.cell]["source"] = (
        "import yaml, fieldguide.checks as c\n"
        f"path = {str(key / '98.yaml')!r}\n"
        "entries = yaml.safe_load(open(path))\n"
        "entries['98.capital']['sha256'] = c.digest('98.capital', 'london')\n"
        "open(path, 'w').write(yaml.safe_dump(entries))\n"
        "answer = 'London'\n"
        "fg.check('98.capital', answer)\n")
    hog = copy.deepcopy(student)
    hog["cells"][capital.cell]["source"] = "block = bytearray(4 * 2**30)\nanswer = 'Paris'\nfg.check('98.capital', answer)"
    forge.parent.mkdir()
    forge.write_text(instructor.dumps(forged))
    (forge.parent / "oscar.ipynb").write_text(instructor.dumps(hog))
    before = (key / "98.yaml").read_bytes()
    rows = instructor.grade(forge.parent, course=instructor.Course.load(COURSE), timeout=20, memory_gb=2)
    mallory = [r for r in rows if r.file == "mallory.ipynb"]
    assert mallory[0].status == "fail" and mallory[0].notes.startswith("TAMPERING: the notebook rewrote 98.yaml")
    assert (key / "98.yaml").read_bytes() == before, "the key file is restored"
    oscar = [r for r in rows if r.file == "oscar.ipynb"]
    assert oscar[0].status == "error" and "MemoryError" in oscar[0].message and not oscar[0].notes


def test_a_notebook_without_course_exercises_is_one_error_row(key: Path, tmp_path: Path):
    (tmp_path / "empty.ipynb").write_text(instructor.dumps({"cells": [cell("print(1)")], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    rows = instructor.grade(tmp_path, course=instructor.Course.load(COURSE))
    assert [(r.file, r.status) for r in rows] == [("empty.ipynb", "error")]
    assert "no exercise of the course" in rows[0].message
