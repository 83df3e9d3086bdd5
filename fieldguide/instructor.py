"""The instructor edition: student notebooks without solutions, and an autograder.

``student_edition`` removes each exercise's hidden solution cell (and its "Solution" caption),
resets the exercise cell to ``answer = ...`` and clears its outputs; every other cell keeps its
stored outputs, so the page still teaches. The result is deterministic (same input, same bytes).

``grade`` executes each submitted notebook offline in a fresh kernel (a per-notebook timeout, an
address-space cap) and grades each exercise and concept question as pass, fail, not attempted or
error. The grade never comes from the submission: after each exercise cell the grader adds a cell
that only writes the kernel's ``answer`` to a file, and the grader's own process compares that
value with the course's answer key (read into memory before any submission runs), or with the
course notebook's ``test=`` predicate. What the submission's ``fg.check`` prints is ignored, so
redefining ``fg.check`` or patching ``fieldguide.checks`` in a notebook changes nothing; a key file
rewritten on disk is restored and the submission flagged.
"""

from __future__ import annotations

import ast
import builtins
import copy
import csv
import json
import os
import re
import resource
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from fieldguide import checks
from fieldguide.resources import CHECKOUT_DATA, load_yaml

STATUSES = ("pass", "fail", "not attempted", "error")
SOLUTION_TAG = "hide-cell"
GRADER_TAG = "fieldguide-grader"
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "FIELDGUIDE_ASSUME_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
               "GRADIO_ANALYTICS_ENABLED": "False", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
_CHECK = re.compile(r"fg\.check\(\s*[\"']([^\"']+)[\"']")
_CAPTION = re.compile(r"^\W*(\{admonition\}\s*)?solution\b", re.IGNORECASE)


# --- reading notebooks -------------------------------------------------------------------------

def read_notebook(path: Path) -> dict[str, Any]:
    """A notebook as plain JSON (nbformat 4); raises ValueError when it is not one."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not a readable notebook ({type(error).__name__}: {error})") from None
    if not isinstance(nb, dict) or nb.get("nbformat") != 4 or not isinstance(nb.get("cells"), list):
        raise ValueError("not a Jupyter notebook in format 4")
    return nb


def dumps(nb: dict[str, Any]) -> str:
    """A notebook's text as nbformat writes it (sorted keys, indent 1), so output is byte-stable."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def source(cell: dict[str, Any]) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else str(text)


def _python(text: str) -> str:
    """Cell source with IPython magics and shell lines blanked, so ``ast`` can parse it."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in text.splitlines())


def is_solution(cell: dict[str, Any]) -> bool:
    """A hidden solution: a code cell tagged ``hide-cell`` (or, in older chapters, a collapsed cell that checks)."""
    if cell.get("cell_type") != "code":
        return False
    meta = cell.get("metadata", {})
    hidden = bool(meta.get("jupyter", {}).get("source_hidden")) and "fg.check(" in source(cell)
    return SOLUTION_TAG in meta.get("tags", []) or hidden


@dataclass(frozen=True)
class Exercise:
    """One exercise or concept question of a notebook: its id, its cell and its ``test=`` predicate source."""

    id: str
    cell: int
    test: str | None = None


def check_calls(text: str) -> list[tuple[str, str | None]]:
    """``(id, test source or None)`` for each ``fg.check("ID", ...)`` call in a cell's source."""
    try:
        tree = ast.parse(_python(text))
    except SyntaxError:
        return [(found, None) for found in _CHECK.findall(text)]
    calls = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "check"
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            test = next((k.value for k in node.keywords if k.arg == "test"), None)
            calls.append((node.args[0].value, ast.get_source_segment(_python(text), test) if test else None))
    return sorted(calls, key=lambda call: text.find(call[0]))


def exercises(nb: dict[str, Any]) -> list[Exercise]:
    """Each exercise in notebook order: its first visible cell that calls ``fg.check``; the predicate
    comes from that cell, else from its solution."""
    shown: dict[str, int] = {}
    tests: dict[str, str] = {}
    for index, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") != "code" or "check(" not in source(cell):
            continue
        for exercise, test in check_calls(source(cell)):
            if not is_solution(cell):
                shown.setdefault(exercise, index)
            if test and (exercise not in tests or not is_solution(cell)):
                tests[exercise] = test
    return [Exercise(e, i, tests.get(e)) for e, i in sorted(shown.items(), key=lambda item: item[1])]


def chapter_of(exercise_id: str) -> str:
    return exercise_id.partition(".")[0]


def course_notebooks(folder: Path | None = None) -> dict[str, Path]:
    """The instructor copies by chapter number: ``data/chapters.yaml``'s notebooks, or ``NN-*.ipynb`` in ``folder``."""
    if folder is None:
        root = CHECKOUT_DATA.parent
        paths = [root / f"{chapter['notebook']}.ipynb" for chapter in load_yaml("chapters.yaml")]
        paths = [path for path in paths if path.is_file()]
    else:
        paths = sorted(Path(folder).glob("[0-9][0-9]-*.ipynb"))
    return {path.name[:2]: path for path in paths}


# --- student notebooks -------------------------------------------------------------------------

def reset_answer(text: str) -> str:
    """The cell's top-level ``answer = <anything>`` statements replaced by ``answer = ...``."""
    try:
        tree = ast.parse(_python(text))
    except SyntaxError:
        return re.sub(r"(?m)^answer\s*=(?!\s*\.\.\.).*$", "answer = ...  # your answer here", text)
    lines = text.splitlines(keepends=True)
    for node in reversed(tree.body):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if [getattr(t, "id", None) for t in targets] != ["answer"] or node.value is None:
            continue
        if isinstance(node.value, ast.Constant) and node.value.value is Ellipsis:
            continue
        end = node.end_lineno or node.lineno
        newline = "\n" if lines[end - 1].endswith("\n") else ""
        lines[node.lineno - 1:end] = ["answer = ...  # your answer here" + newline]
    return "".join(lines)


def student_edition(nb: dict[str, Any]) -> dict[str, Any]:
    """The notebook without solutions: exercise cells reset and cleared, other outputs kept."""
    nb = copy.deepcopy(nb)
    shown = {exercise.cell for exercise in exercises(nb)}
    cells: list[dict[str, Any]] = []
    for index, cell in enumerate(nb["cells"]):
        if is_solution(cell):
            if cells and cells[-1]["cell_type"] == "markdown" and _CAPTION.match(source(cells[-1]).lstrip("`")) \
                    and len(source(cells[-1])) < 300:
                cells.pop()  # the "Solution (click to show)" caption of the removed cell
            continue
        if index in shown:
            cell["source"] = reset_answer(source(cell))
            cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
    nb["cells"] = cells
    nb.setdefault("metadata", {})["fieldguide"] = {"edition": "student"}
    return nb


def solution_only_names(nb: dict[str, Any]) -> list[str]:
    """Warnings for names that only a solution cell defines but a later visible cell uses
    (the student edition would stop there with a NameError)."""
    defined_visible: set[str] = set()
    from_solution: dict[str, int] = {}
    warnings = []
    for index, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = ast.parse(_python(source(cell)))
        except SyntaxError:
            continue
        stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        stored |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        stored |= {(a.asname or a.name).split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        if is_solution(cell):
            for name in stored - defined_visible - {"answer"}:
                from_solution.setdefault(name, index)
            continue
        loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        for name in sorted(loaded & set(from_solution) - stored):
            warnings.append(f"cell {index + 1} uses `{name}`, which only the solution in cell {from_solution[name] + 1} defines")
        defined_visible |= stored
        for name in stored:
            from_solution.pop(name, None)
    return warnings


def write_student_editions(out: Path, course: Path | None = None) -> tuple[list[Path], list[str]]:
    """Write every chapter's student edition into ``out``; returns the files and the warnings."""
    out.mkdir(parents=True, exist_ok=True)
    written, warnings = [], []
    for path in course_notebooks(course).values():
        nb = read_notebook(path)
        target = out / path.name
        target.write_text(dumps(student_edition(nb)), encoding="utf-8")
        written.append(target)
        warnings += [f"{path.name}: {warning}" for warning in solution_only_names(nb)]
    return written, warnings


# --- grading -----------------------------------------------------------------------------------

@dataclass
class Grade:
    """One row of the grade sheet."""

    file: str
    chapter: str
    exercise: str
    status: str
    message: str = ""
    notes: str = ""


@dataclass
class Course:
    """What grading trusts, read before any submission runs: the instructor notebooks and the keys."""

    notebooks: dict[str, dict[str, Any]]
    exercises: dict[str, list[Exercise]]
    key_files: dict[Path, bytes] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path | None = None) -> Course:
        notebooks = {chapter: read_notebook(path) for chapter, path in course_notebooks(folder).items()}
        found = {chapter: exercises(nb) for chapter, nb in notebooks.items()}
        key_files = {}
        for chapter, listed in found.items():
            for exercise in listed:
                try:
                    checks.entry(exercise.id)  # reads the chapter's key into the process's cache, once
                except KeyError:
                    pass
            path = Path(checks.data_path(checks.key_file(f"{chapter}.x")))
            if path.is_file():
                key_files[path] = path.read_bytes()
        return cls(notebooks, found, key_files)

    def restore_keys(self) -> list[str]:
        """Put back any key file a submission rewrote; returns the ones that had changed."""
        changed = []
        for path, original in self.key_files.items():
            if not path.is_file() or path.read_bytes() != original:
                path.write_bytes(original)
                changed.append(path.name)
        return changed


_RECORD = '''\
# fieldguide grader: writes `answer` for {exercise!r} to a file; the grader's own process grades it
def _fieldguide_record(path, test_source):
    import json
    record = {{}}
    try:
        value = answer
    except NameError:
        record["state"] = "missing"
    else:
        if value is Ellipsis:
            record["state"] = "not attempted"
        else:
            def plain(v):
                if hasattr(v, "tolist"):
                    return v.tolist()
                if isinstance(v, (set, frozenset)):
                    return sorted(v, key=str)
                raise TypeError(type(v).__name__)
            record["state"] = "value"
            record["type"] = type(value).__name__
            try:
                record["value"] = json.loads(json.dumps(value, default=plain, allow_nan=False))
            except Exception:
                record["state"] = "unreadable"
            if test_source is not None:
                try:
                    record["kernel_test"] = bool(eval(test_source, globals())(value))
                except Exception as error:
                    record["kernel_test"] = False
                    record["why"] = f"{{type(error).__name__}}: {{error}}"[:200]
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
_fieldguide_record({path!r}, {test!r})
del _fieldguide_record
'''


def _graded_copy(nb: dict[str, Any], wanted: list[Exercise], records: Path) -> tuple[dict[str, Any], dict[str, tuple[int, int, int]]]:
    """The submission with a recording cell after each exercise cell;
    ``{id: (its cell in the submission, its cell in the copy, the recording cell)}``."""
    present = {exercise.id: exercise.cell for exercise in exercises(nb)}
    after: dict[int, list[Exercise]] = {}
    for exercise in wanted:
        if exercise.id in present:
            after.setdefault(present[exercise.id], []).append(exercise)
    cells, where = [], {}
    for index, cell in enumerate(nb["cells"]):
        cell = copy.deepcopy(cell)
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
        for exercise in after.get(index, []):
            where[exercise.id] = (index, len(cells) - 1, len(cells))
            code = _RECORD.format(exercise=exercise.id, path=str(records / f"{exercise.id}.json"), test=exercise.test)
            cells.append({"cell_type": "code", "execution_count": None, "id": f"grader-{len(cells)}",
                          "metadata": {"tags": [GRADER_TAG]}, "outputs": [], "source": code})
    graded = {**nb, "cells": cells}
    graded.setdefault("metadata", {})
    return graded, where


_MODULE_NAMES = {"fg", "fieldguide", "checks", "builtins", "__builtins__", "json", "sys"}


def suspicious(nb: dict[str, Any]) -> list[str]:
    """Code that tries to change the checks or Python itself (reported; it cannot change a grade)."""
    found = []
    for index, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") != "code" or is_solution(cell):
            continue
        try:
            tree = ast.parse(_python(source(cell)))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            what = None
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                for target in getattr(node, "targets", None) or [node.target]:
                    root = target
                    while isinstance(root, (ast.Attribute, ast.Subscript)):
                        root = root.value
                    if isinstance(target, (ast.Attribute, ast.Subscript)) and getattr(root, "id", "") in _MODULE_NAMES:
                        what = f"assigns `{ast.unparse(target)}`"
                    elif isinstance(target, ast.Name) and target.id in {"fg", "check", "fieldguide"}:
                        what = f"rebinds `{target.id}`"
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in {"check", "is_right"}:
                what = f"defines `{node.name}`"
            elif isinstance(node, ast.Call) and getattr(node.func, "id", "") in {"setattr", "exec"}:
                what = f"calls `{node.func.id}`"  # type: ignore[attr-defined]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "exercises" in node.value and ".yaml" in node.value:
                what = "names an answer-key file"
            if what and f"cell {index + 1} {what}" not in found:
                found.append(f"cell {index + 1} {what}")
    return found


def _cap_memory(limit: int) -> Callable[[], None]:
    def cap() -> None:  # runs in the kernel's process, after fork, before exec
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return cap


def _verdict(exercise: Exercise, record: dict[str, Any]) -> tuple[str, str]:
    """pass/fail/not attempted, and why, from what the kernel wrote; the key and predicate are the course's."""
    state = record.get("state")
    if state == "not attempted":
        return "not attempted", "`answer` is still `...`"
    if state == "missing":
        return "not attempted", "no `answer` was set"
    if exercise.test is not None:
        if state == "value":
            try:  # the course's predicate on the plain value, in the grader: nothing of the kernel involved
                ok = bool(eval(exercise.test, {"__builtins__": builtins})(record["value"]))
                return ("pass", "") if ok else ("fail", "the course's test rejects this answer")
            except Exception:
                pass  # it needs the live object (an array, a tensor): use the kernel's evaluation below
        ok = record.get("kernel_test", False)
        return ("pass", "checked by the course's test in the notebook's kernel") if ok else \
            ("fail", "the course's test rejects this answer" + (f" ({record['why']})" if record.get("why") else ""))
    try:
        entry = checks.entry(exercise.id)
    except KeyError as error:
        return "error", f"{error.args[0]} (a course problem, not the student's)"
    if state == "unreadable":
        return "fail", f"a {record.get('type')} is not a {entry['kind']} answer"
    try:
        right = checks.is_right(exercise.id, record["value"])
    except checks.AnswerError as error:
        return "fail", str(error)
    hint = entry.get("hint", "")
    return ("pass", "") if right else ("fail", f"hint: {hint}" if hint else "")


def _error_text(cell: dict[str, Any]) -> str | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            value = str(output.get("evalue", "")).strip().splitlines()
            return f"{output.get('ename', 'Error')}: {value[0][:160] if value else ''}".rstrip(": ")
    return None


def _file_chapter(name: str, course: Course) -> set[str]:
    """Chapter numbers that a file name names (``03-tiny-llm``, ``ch03``...), among the course's."""
    return {number.zfill(2) for number in re.findall(r"(?<!\d)(\d{1,2})(?!\d)", name)} & set(course.notebooks)


def grade_notebook(path: Path, course: Course, *, timeout: float = 600, memory_gb: float = 6) -> list[Grade]:
    """Execute one submission in a fresh kernel and grade each of its chapter's exercises."""
    name = path.name
    try:
        nb = read_notebook(path)
    except ValueError as error:
        return [Grade(name, "", "", "error", f"{error}; nothing was graded")]
    counts = Counter(chapter_of(e.id) for e in exercises(nb) if chapter_of(e.id) in course.notebooks)
    if not counts:
        return [Grade(name, "", "", "error", "no exercise of the course in this notebook (no `fg.check(\"NN.name\", answer)` cell found)")]
    chapter = counts.most_common(1)[0][0]
    notes = suspicious(nb)
    named = _file_chapter(name, course)
    if named and chapter not in named:
        notes.insert(0, f"the file name says chapter {'/'.join(sorted(named))}, the notebook is chapter {chapter}: graded as chapter {chapter}")
    wanted = course.exercises[chapter]
    with tempfile.TemporaryDirectory(prefix="fg-grade-") as work:
        records = Path(work) / "records"
        records.mkdir()
        (Path(work) / "cwd").mkdir()
        graded, where = _graded_copy(nb, wanted, records)
        failure, running = _execute(graded, Path(work) / "cwd", timeout, memory_gb)
        restored = course.restore_keys()
        if restored:
            notes.insert(0, f"TAMPERING: the notebook rewrote {', '.join(restored)} (restored; grades use the key read before it ran)")
        rows = []
        for exercise in wanted:
            if exercise.id not in where:
                rows.append(("not attempted", f"no cell with `fg.check(\"{exercise.id}\", answer)` in the notebook"))
                continue
            original, executed, recorder = where[exercise.id]
            record_file = records / f"{exercise.id}.json"
            error = _error_text(graded["cells"][executed])
            if failure and running is not None and running <= recorder and not record_file.is_file():
                stuck = _original_index(graded, running)
                rows.append(("error", f"{failure} in this exercise's cell" if stuck == original
                             else f"not reached: {failure} in cell {stuck + 1}"))
            elif error:
                rows.append(("error", f"the exercise cell (cell {original + 1}) raised {error}"))
            elif not record_file.is_file():
                rows.append(("error", failure or "the grader's recording cell did not run"))
            else:
                try:
                    record = json.loads(record_file.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    record = {}
                rows.append(_verdict(exercise, record))
    return [Grade(name, chapter, exercise.id, status, message, "; ".join(notes)) for exercise, (status, message) in zip(wanted, rows)]


def _original_index(graded: dict[str, Any], executed: int) -> int:
    """The submission's own cell number of an executed cell (grader cells not counted)."""
    return sum(GRADER_TAG not in c.get("metadata", {}).get("tags", []) for c in graded["cells"][:executed + 1]) - 1


def _execute(nb: dict[str, Any], cwd: Path, timeout: float, memory_gb: float) -> tuple[str | None, int | None]:
    """Run the notebook in place; returns (what stopped it or None, the index of the cell running then)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    running: list[int] = [0]
    deadline: list[float] = []  # the clock starts with the first cell, not with the kernel

    def time_left(cell: Any) -> int:
        if not deadline:
            deadline.append(time.monotonic() + timeout)
        return max(1, round(deadline[0] - time.monotonic()))
    node = nbformat.from_dict(nb)
    client = NotebookClient(
        node, kernel_name="python3", allow_errors=True, record_timing=False, resources={"metadata": {"path": str(cwd)}},
        timeout_func=time_left,
        on_cell_start=lambda cell, cell_index: running.__setitem__(0, cell_index),
    )
    env = {**os.environ, **OFFLINE_ENV}
    failure = None
    try:
        client.execute(env=env, cwd=str(cwd), preexec_fn=_cap_memory(int(memory_gb * 2**30)), stderr=subprocess.DEVNULL)
    except CellTimeoutError:
        failure = f"timed out (the {timeout:g} s limit per notebook)"
    except DeadKernelError:
        failure = f"the kernel died (over the {memory_gb:g} GB memory cap, or killed)"
    except Exception as error:  # a broken submission must not stop the batch
        failure = f"the notebook could not run ({type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''})"
    nb["cells"] = [dict(cell) for cell in node.cells]
    return failure, (running[0] if failure else None)


def grade(submissions: Path, *, course: Course | None = None, timeout: float = 600, memory_gb: float = 6,
          progress: Callable[[str], None] | None = None) -> list[Grade]:
    """Grade every ``*.ipynb`` in ``submissions`` (sorted by name); one bad file never stops the batch."""
    course = course or Course.load()
    rows: list[Grade] = []
    for path in sorted(Path(submissions).glob("*.ipynb")):
        started = time.monotonic()
        try:
            graded = grade_notebook(path, course, timeout=timeout, memory_gb=memory_gb)
        except Exception as error:  # the grader's own failure on one file is that file's error row
            graded = [Grade(path.name, "", "", "error", f"the grader failed on this file ({type(error).__name__}: {error})")]
        rows += graded
        if progress:
            passed = sum(row.status == "pass" for row in graded)
            progress(f"{path.name}: chapter {graded[0].chapter or '?'}, {passed}/{len(graded)} pass, {time.monotonic() - started:.1f} s")
    return rows


def write_csv(rows: list[Grade], out: Path) -> None:
    """The grade sheet: one row per submission and exercise."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["file", "chapter", "exercise", "status", "message", "notes"])
        for row in rows:
            writer.writerow([row.file, row.chapter, row.exercise, row.status, row.message, row.notes])


def write_feedback(rows: list[Grade], folder: Path) -> list[Path]:
    """One short Markdown file per submission: the score, each exercise's result and why."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    by_file: dict[str, list[Grade]] = {}
    for row in rows:
        by_file.setdefault(row.file, []).append(row)
    for name, graded in by_file.items():
        passed = sum(row.status == "pass" for row in graded)
        lines = [f"# Feedback: {name}", ""]
        if graded[0].exercise:
            lines += [f"Chapter {graded[0].chapter}: **{passed} of {len(graded)}** exercises and concept questions pass.", ""]
            lines += ["| Exercise | Result | Why |", "|---|---|---|"]
            lines += [f"| `{row.exercise}` | {row.status} | {row.message.replace('|', '/')} |" for row in graded]
        else:
            lines += [f"Not graded: {graded[0].message}."]
        if graded[0].notes:
            lines += ["", f"Notes: {graded[0].notes}."]
        lines += ["", "Graded offline with the course's answer key; what the notebook's own checks printed was not used.", ""]
        path = folder / f"{Path(name).stem}.md"
        path.write_text("\n".join(lines), encoding="utf-8")
        written.append(path)
    return written
