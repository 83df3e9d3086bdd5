"""The chapter pattern holds for every notebook, and every notebook is in the book."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

from fieldguide import kit

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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_a_self_checking_exercise_with_a_hidden_solution(path):
    cells = code_cells(path)
    assert any("answer = ..." in source(c) and "fg.check(" in source(c) for c in cells)
    solutions = [c for c in cells if "hide-input" in c["metadata"].get("tags", [])]
    assert solutions and all(c["metadata"].get("jupyter", {}).get("source_hidden") for c in solutions)
    assert any("correct." in "".join(o.get("text", "")) for c in solutions for o in c["outputs"])


def test_every_notebook_is_in_the_table_of_contents():
    listed = toc_files()
    assert {f"notebooks/{p.stem}" for p in NOTEBOOKS} <= listed
