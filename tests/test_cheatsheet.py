"""The cheat sheet (book/cheatsheet/): every snippet is run or checked against the installed libraries,
the checker itself catches the kinds of rot it exists for, and the page's stamp matches the pins."""

from __future__ import annotations

import json
import re
from importlib import metadata

import pytest

from fieldguide import snippets
from fieldguide.resources import CHECKOUT_DATA


@pytest.fixture(scope="module")
def sheet() -> list[snippets.Snippet]:
    return snippets.all_snippets()


def test_every_page_has_marked_snippets_of_each_kind(sheet):
    assert {s.page for s in sheet} >= {"hub.md", "transformers.md", "data-and-embeddings.md", "fine-tuning.md",
                                       "diffusers.md", "shipping.md"}
    assert {s.kind for s in sheet} >= {"run", "check", "shell"}
    assert all(s.language in ("python", "bash") for s in sheet)


def test_a_fence_without_a_marker_is_refused(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# x\n\n```python\nprint(1)\n```\n")
    with pytest.raises(ValueError, match="not a marked"):
        snippets.extract(page)
    page.write_text("```{code-block} python\n:class: maybe\nprint(1)\n```\n")
    with pytest.raises(ValueError, match="needs `:class:`"):
        snippets.extract(page)


def test_every_python_and_shell_snippet_checks_against_the_installed_libraries(sheet):
    problems, reports = snippets.check_all(sheet)
    assert problems == {}, "\n".join(f"{where}: {'; '.join(found)}" for where, found in problems.items())
    assert sum(len(r.bound) for r in reports.values()) > 50


@pytest.mark.timeout(900)
def test_every_run_snippet_runs_offline(sheet):
    errors = snippets.run_all(sheet)
    assert errors == {}, "\n\n".join(f"{where}:\n{error}" for where, error in errors.items())


# The checker must fail on the rot it exists for.
@pytest.mark.parametrize(("code", "message"), [
    ('from transformers import TrainingArguments\nTrainingArguments(output_dir="o", evaluation_strategy="epoch")',
     "unexpected keyword argument 'evaluation_strategy'"),
    ('from transformers import pipeline\npipeline("summarization", model="x")', "pipeline task 'summarization' does not exist"),
    ('from transformers import pipeline\npipeline(task="translation_en_to_fr")', "does not exist"),
    ('from huggingface_hub import hf_hub_download\nhf_hub_download("x", "y", revison="main")', "'revison'"),
    ('from huggingface_hub import HfApi\napi = HfApi()\napi.model_infos("x")', "HfApi has no method model_infos"),
    ('from huggingface_hub import HfFolder', "huggingface_hub has no HfFolder"),
    ('import huggingface_hub\nhuggingface_hub.snapshot_downlod("x")', "has no attribute snapshot_downlod"),
    ('from transformers import AutoModelForCausalLM\nm = AutoModelForCausalLM.from_pretrained("x")\n'
     'm.generate(max_new_tokns=3)', "max_new_tokns would go to **kwargs and no documentation"),
    ('from sentence_transformers import SentenceTransformer\nSentenceTransformer("x").encode(["a"], normalise_embeddings=True)',
     "normalise_embeddings"),
])
def test_the_checker_catches_a_misspelt_or_removed_api(code, message):
    assert any(message in problem for problem in snippets.check_python(code).problems), snippets.check_python(code)


def test_the_checker_passes_the_right_spellings():
    code = ('from transformers import TrainingArguments, pipeline, BertConfig\n'
            'TrainingArguments(output_dir="o", eval_strategy="epoch")\npipeline("text-generation", model="x")\n'
            'BertConfig(num_labels=2)\n'
            'from huggingface_hub import hf_hub_download\nhf_hub_download("x", "y", revision="main")')
    report = snippets.check_python(code)
    assert report.problems == [] and len(report.bound) + len(report.documented) == 4


@pytest.mark.parametrize(("line", "message"), [
    ("huggingface-cli login", "huggingface-cli: no such command"),
    ("hf download x --revison main", "has no flag --revison"),
    ("hf cache scan-all", "`hf cache` has no subcommand 'scan-all'"),
    ("export HF_HUB_OFLINE=1", "HF_HUB_OFLINE: not a variable"),
])
def test_the_checker_catches_a_wrong_command_line(line, message):
    problems = snippets.check_shell(line)
    assert any(message in p for p in problems), problems


def test_the_record_matches_the_pages_and_the_pins(sheet):
    """data/cheatsheet-checked.json (the page's stamp and counts) is current: same counts, the pinned versions."""
    record = json.loads((CHECKOUT_DATA / "cheatsheet-checked.json").read_text())
    _, reports = snippets.check_all([s for s in sheet if s.kind != "shell"])
    summary = snippets.counts(sheet, reports)
    assert {k: record[k] for k in summary} == summary, "run `python -m fieldguide.snippets --record`"
    pins = dict(re.findall(r"^([\w-]+)==([^\s#]+)", (CHECKOUT_DATA.parent / "requirements.txt").read_text(), re.M))
    for name, version in record["versions"].items():
        assert pins.get(name, metadata.version(name)).split("+")[0] == version.split("+")[0], name
