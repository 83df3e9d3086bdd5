"""The chapter pattern holds for every notebook, and every notebook is in the book."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fieldguide import checks, kit

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


def code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def toc_files() -> set[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return {chapter["file"] for part in toc["parts"] for chapter in part["chapters"]}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_starts_with_the_install_cell_then_setup(path):
    first, second = (source(c) for c in code_cells(path)[:2])
    assert 'find_spec("fieldguide") is None' in first
    assert CONFIG["repository"]["url"] in first, "the install cell must point at the course repository"
    assert "fg.setup(" in second


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_models_are_course_models(path):
    registry = kit.load_registry()
    for cell in code_cells(path):
        for node in ast.walk(ast.parse(source(cell))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.count("/") == 1:
                org = node.value.split("/")[0]
                if org in {model_id.split("/")[0] for model_id in registry}:
                    assert node.value in registry, f"{path.name} names {node.value}, which the model kit does not know"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_was_run_top_to_bottom_with_outputs_and_no_errors(path):
    cells = code_cells(path)
    counts = [c["execution_count"] for c in cells]
    assert counts == list(range(1, len(cells) + 1)), "re-run the notebook from a fresh kernel"
    assert any(c["outputs"] for c in cells)
    for cell in cells:
        if "raises-exception" not in cell["metadata"].get("tags", []):
            assert not [o for o in cell["outputs"] if o["output_type"] == "error"], source(cell)[:80]


CHECK_CALL = re.compile(r"fg\.check\(\s*[\"']([^\"']+)[\"']")
HIDDEN_SOLUTION = {"hide-cell"}


def is_solution(cell: dict) -> bool:
    return bool(HIDDEN_SOLUTION & set(cell["metadata"].get("tags", [])))


def exercises(path: Path) -> dict[str, tuple[int | None, int | None]]:
    """Each exercise id: the index of its first visible exercise cell and of its first hidden solution."""
    found: dict[str, list[int | None]] = {}
    for index, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] != "code":
            continue
        for exercise in CHECK_CALL.findall(source(cell)):
            slot = found.setdefault(exercise, [None, None])
            place = 1 if is_solution(cell) else 0
            if slot[place] is None:
                slot[place] = index
    return {exercise: (shown, solution) for exercise, (shown, solution) in found.items()}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercises_check_themselves_against_the_key_with_hidden_solutions(path):
    """Every exercise: `answer = ...`, `fg.check("NN.name", answer)`, a key entry, a hidden solution that passes."""
    cells = json.loads(path.read_text())["cells"]
    found = exercises(path)
    assert found, "a chapter needs exercises"
    assert sum(name.split(".", 1)[1].startswith("concept-") for name in found) >= 3, "3-5 concept questions (ids NN.concept-...)"
    for exercise, (shown, solution) in found.items():
        assert exercise.startswith(path.name[:2] + "."), f"{exercise}: ids start with the chapter number"
        checks.entry(exercise)  # raises when the key lacks it
        assert shown is not None and "answer = ..." in source(cells[shown]), f"{exercise}: the exercise cell leaves answer = ..."
        assert solution is not None and solution > shown, f"{exercise}: a hidden solution cell follows the exercise"
        hidden = cells[solution]["metadata"].get("jupyter", {})
        assert hidden.get("source_hidden") and hidden.get("outputs_hidden"), f"{exercise}: solution source and outputs collapsed"
        said = "".join("".join(o.get("text", "")) for o in cells[solution]["outputs"])
        assert f"{exercise}: correct." in said, f"{exercise}: the stored solution output must pass the check"
    for cell in cells:
        assert "expected=" not in source(cell), "expected answers live in the answer key, not in the notebook"


def visible_text(cell: dict) -> str:
    """What a learner sees of a cell before opening any solution."""
    if is_solution(cell) or {"remove-cell", "remove-input"} & set(cell["metadata"].get("tags", [])):
        return ""
    outputs = []
    for output in cell.get("outputs", []):
        outputs.append("".join(output.get("text", "")))
        outputs.append("".join(output.get("data", {}).get("text/plain", "")))
        outputs.append("".join(output.get("data", {}).get("text/html", "")))
    return source(cell) + "\n" + "\n".join(outputs)


def candidates(text: str, entry: dict) -> set:
    """Values in ``text`` that could be an answer of this key entry's kind (see checks.py)."""
    kind = entry["kind"]
    if kind in ("text", "choice"):
        words = set(re.findall(r"[\w][\w\-./+]*", text)) | set(re.findall(r"[\"']([^\"'\n]{1,80})[\"']", text))
        found = words | {" " + w for w in words}
        return {w for w in found if len(w.strip()) >= 3}
    if kind == "integer":
        numbers = {int(n.replace(",", "")) for n in re.findall(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?![\w])|(?<![\w.])\d+(?![\w.])", text)}
        return {n for n in numbers if abs(n) >= 10}
    if kind == "number":
        return {float(n) for n in re.findall(r"-?\d+\.\d+", text)}
    return set()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_answer_is_visible_before_its_exercise_is_solved(path):
    """Hash every word and number a learner sees before a solution; none may be the key's answer."""
    cells = json.loads(path.read_text())["cells"]
    for exercise, (shown, solution) in exercises(path).items():
        entry = checks.entry(exercise)
        seen = "\n".join(visible_text(cell) for cell in cells[: (solution or shown) + 1])
        for value in candidates(seen, entry):
            try:
                leaked = checks.is_right(exercise, value)
            except checks.AnswerError:
                continue
            assert not leaked, f"{exercise}: its answer {value!r} is visible before the learner solves it"


def test_every_notebook_is_in_the_table_of_contents():
    listed = toc_files()
    assert {f"notebooks/{p.stem}" for p in NOTEBOOKS} <= listed


REMOVED_APIS = {
    "huggingface-cli ": "removed in huggingface_hub 1.0: the CLI is `hf` (`hf auth login`, `hf download`)",
    "evaluation_strategy": "renamed eval_strategy in transformers",
    "trust_remote_code" + "=True": "the course loads no remote code",  # split so greps for uses skip it
}


@pytest.mark.parametrize("path", NOTEBOOKS + sorted((ROOT / "book").rglob("*.md")), ids=lambda p: p.name)
def test_no_removed_or_forbidden_api_in_the_course(path):
    text = path.read_text(encoding="utf-8")
    for needle, why in REMOVED_APIS.items():
        assert needle not in text, f"{path.name} uses {needle.strip()!r}: {why}"


SANITIZE = """
import json, re, sys
from nbval.plugin import get_sanitize_patterns
patterns = [(re.compile(r), s) for r, s in get_sanitize_patterns(open(sys.argv[1]).read())]
texts = json.load(sys.stdin)
for text in texts:
    for regex, replace in patterns:
        text = regex.sub(replace, text)
print(json.dumps(text))
"""


def test_the_nbval_sanitizer_is_linear_on_every_stored_output():
    """nbval applies each regex to each output: a quadratic one hung CI on an embedded clip's base64.

    A regex holds the interpreter, so the bound is a child process's timeout, not pytest's.
    """
    texts = ["A" * 2_000_000]  # one long run of non-space text, as in a base64 audio clip
    for path in NOTEBOOKS:
        for cell in code_cells(path):
            for output in cell.get("outputs", []):
                for value in [output.get("text"), *output.get("data", {}).values()]:
                    texts.append("".join(value) if isinstance(value, list) else str(value or ""))
    texts.append("/home/me/.venv/lib/python3.11/site-packages/torch/nn.py:9: FutureWarning: ('/x/site-packages/y')")
    try:
        finished = subprocess.run([sys.executable, "-c", SANITIZE, str(ROOT / "tests" / "nbval-sanitize.cfg")],
                                  input=json.dumps(texts), capture_output=True, text=True, timeout=120, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail("a regex in tests/nbval-sanitize.cfg takes minutes on the stored outputs (backtracking)")
    assert json.loads(finished.stdout) == "SITE-PACKAGES/torch/nn.py:9: FutureWarning: ('SITE-PACKAGES/y')"
