"""The catalog: the committed data validates, broken files fail naming entry and field, suggest() works,
task tags match huggingface.js, and every "run it online" line resolves in the installed libraries."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from fieldguide import catalog, pages
from fieldguide.errors import FieldGuideError
from fieldguide.resources import data_path, load_yaml


@pytest.fixture(scope="module")
def entries() -> list[dict]:
    return catalog.load()


def write_catalog(tmp_path: Path, entries: list[dict]) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(entries))
    return path


def test_every_entry_is_sourced_dated_and_says_why_it_is_here(entries):
    assert len({e["id"] for e in entries}) == len(entries) > 100
    assert {e["domain"] for e in entries} == {d["id"] for d in yaml.safe_load(data_path("domains.yaml").read_text())}
    assert all(e["source"].startswith("https://") and e["checked"] for e in entries)
    assert all(e["selection"] in catalog.SELECTION and e["selected"] and e["checked_by"] for e in entries)


def test_the_page_states_the_count_the_rule_and_the_review():
    page = pages.top_100()
    review = load_yaml("catalog-review.yaml")
    assert f"# The catalog: {len(catalog.models())} models" in page
    assert "How the" in page and pages.SELECTED_ON in page and "not* a download ranking" in page
    for item in review["added"] + review["dropped"] + review["changed"]:
        assert item["id"] in page
    assert not any(item["id"] in set(catalog.models()["id"]) for item in review["dropped"])
    assert set(i["id"] for i in review["added"]) <= set(catalog.models()["id"])


def test_weighted_by_use_small_encoders_outnumber_chat_models(entries):
    domains = [e["domain"] for e in entries]
    assert domains.count("embeddings") + domains.count("nlp") > domains.count("llm")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("domain", "cooking", "domain: 'cooking' is not one of"),
        ("pipeline_tag", "text-genration", "pipeline_tag: 'text-genration' is not a Hub task tag"),
        ("parameters", "about 7 billion", "parameters: 'about 7 billion' is not like"),
        ("licence", "Apache 2", "licence: 'Apache 2' is not in data/licences.yaml"),
        ("source", "huggingface.co/x", "source: must be an https URL"),
        ("checked", "last week", "checked: 'last week' is not a YYYY-MM-DD date"),
        ("modality", "audio", "modality: the Hub groups"),
        ("stand_in", "org/unknown", "stand_in: 'org/unknown' is not a course model"),
        ("checked_by", ["hearsay"], "checked_by: ['hearsay'] is not a list of"),
        ("selection", "vibes", "selection: 'vibes' is not one of"),
        ("loader", {"klass": "X"}, "loader: null, {class: NAME"),
        ("loader", {"remote_code": "yes"}, "loader: null, {class: NAME"),
    ],
)
def test_a_broken_field_is_named_with_its_entry(tmp_path, entries, field, value, message):
    broken = [dict(e) for e in entries]
    broken[3][field] = value
    with pytest.raises(catalog.CatalogError) as error:
        catalog.load(write_catalog(tmp_path, broken))
    assert f"{entries[3]['id']}: {message}" in str(error.value)


def test_duplicate_ids_and_missing_fields_are_reported(tmp_path, entries):
    broken = [dict(e) for e in entries[:3]]
    broken.append(dict(entries[0]))
    del broken[1]["source"]
    with pytest.raises(catalog.CatalogError) as error:
        catalog.load(write_catalog(tmp_path, broken))
    text = str(error.value)
    assert f"{entries[1]['id']}: source: missing" in text
    assert f"id: '{entries[0]['id']}' is also used by entry 1" in text


def test_parameter_counts_and_licence_classes():
    assert catalog.parameter_count("22.7M") == pytest.approx(22.7e6)
    assert catalog.parameter_count("1.5B") == pytest.approx(1.5e9)
    assert catalog.parameter_count("unknown") is None
    assert catalog.licence_class("apache-2.0") == "permissive"
    assert catalog.licence_class("other", "FLUX.1 [dev] Non-Commercial License") == "non-commercial"
    assert catalog.licence_class("llama3.1") == "restricted"


def test_suggest_filters_by_task_size_and_licence():
    small = catalog.suggest(task="text-generation", max_params="2B", licence="permissive")
    assert len(small) > 0
    frame = catalog.models().set_index("id")
    for model_id in small["id"]:
        row = frame.loc[model_id]
        assert row["pipeline_tag"] == "text-generation" and row["params"] <= 2e9 and row["licence_class"] == "permissive"
    assert list(small["rank"]) == sorted(small["rank"])
    with pytest.raises(FieldGuideError, match="not a Hub task tag"):
        catalog.suggest(task="make-coffee")


def test_siblings_give_a_runnable_line_per_model():
    table = catalog.siblings("tiny-llm")
    assert len(table) >= 10
    assert all(f'"{model}"' in line for model, line in zip(table["model"], table["run it online"]))
    assert 'pipeline("text-generation", model="openai-community/gpt2")' in set(table["run it online"])
    assert 'AutoModelForSeq2SeqLM.from_pretrained("google-t5/t5-small")' in set(table["run it online"])


def test_loader_lines_name_only_pipelines_that_transformers_has():
    from transformers.pipelines import get_supported_tasks

    tasks = load_yaml("loaders.yaml")["transformers"]["pipeline_tasks"]
    assert set(tasks) <= set(get_supported_tasks())


def test_siblings_work_for_a_planned_chapter():
    table = catalog.siblings("rl")
    assert len(table) >= 3 and set(table["task"]) == {"reinforcement-learning"}


HFJS_COMMIT = "fe42e68017ffc76d09922ea8f9b38a6964345710"


def hub_tags() -> set[str]:
    return {row["tag"] for row in load_yaml("tasks.yaml") if row["kind"] == "task"}


def test_tasks_match_huggingface_js_main_at_the_cited_commit():
    assert HFJS_COMMIT in data_path("tasks.yaml").read_text()
    tags = hub_tags()
    assert {"video-to-video", "image-text-to-image", "image-text-to-video"} <= tags
    assert not {"biology", "text2text-generation"} & tags
    assert {"tokenizer", "feature-extractor"} == {r["tag"] for r in load_yaml("tasks.yaml") if r["kind"] == "component"}
    pipelines_ts = os.environ.get("HFJS_PIPELINES_TS")  # a checkout's packages/tasks/src/pipelines.ts
    if pipelines_ts:
        body = Path(pipelines_ts).read_text().split("export const PIPELINE_DATA = {")[1].split("} satisfies")[0]
        assert tags == set(re.findall(r'^\t"?([a-z0-9-]+)"?: \{', body, re.M))


def test_the_tags_the_catalog_and_the_chapters_use_are_hub_tags(entries):
    tags = hub_tags()
    assert {e["pipeline_tag"] for e in entries} - {"unknown"} <= tags
    assert {row["tag"] for row in load_yaml("tasks.yaml") if row["chapter"] != "none"} <= tags | {"tokenizer", "feature-extractor"}
    used = set()
    for notebook in sorted(Path(data_path("models.yaml")).parents[1].glob("notebooks/*.ipynb")):
        for cell in json.loads(notebook.read_text())["cells"]:
            code = "".join(cell["source"]) if cell["cell_type"] == "code" else ""
            used |= set(re.findall(r'task\s*=\s*["\']([a-z0-9-]+)["\']', code))
            used |= set(re.findall(r'pipeline_tag"\]\s*==\s*"([a-z0-9-]+)"', code))
            for group in re.findall(r'pipeline_tag"\]\.isin\(\s*\[([^\]]*)\]', code):
                used |= set(re.findall(r'"([a-z0-9-]+)"', group))
    assert used, "expected the chapters to filter the catalog by task somewhere"
    assert used <= tags, f"not Hub tags: {sorted(used - tags)}"


def test_chapters_are_linked_only_for_tasks_they_teach():
    chapter_of = {row["tag"]: row["chapter"] for row in load_yaml("tasks.yaml")}
    for tag in ("question-answering", "table-question-answering", "translation", "summarization", "audio-to-audio",
                "image-to-image"):
        assert chapter_of[tag] == "none", tag


def test_every_run_it_online_line_resolves_in_the_installed_libraries(entries):
    import diffusers
    import sentence_transformers
    import transformers
    from transformers.pipelines import get_supported_tasks

    modules = {"transformers": transformers, "diffusers": diffusers, "sentence-transformers": sentence_transformers}
    checked = 0
    for entry in entries:
        line = catalog.load_snippet(entry)
        if entry["loader"] == {"remote_code": True}:  # no line the course would never run
            assert line == catalog.REMOTE_CODE and "trust_remote_code" in entry["note"], entry["id"]
            continue
        assert f'"{entry["id"]}"' in line or (entry["loader"] or {}).get("id", "") in line, line
        if entry["library"] not in modules:
            assert line in (f"see the model card ({entry['library']})", f'timm.create_model("hf-hub:{entry["id"]}", pretrained=True)')
            continue
        if line.startswith("pipeline("):
            task = re.match(r'pipeline\("([a-z0-9-]+)"', line)[1]
            assert entry["library"] == "transformers" and task in get_supported_tasks() and task == entry["pipeline_tag"], line
        else:
            name = re.match(r"(\w+)[.(]", line)[1]
            assert hasattr(modules[entry["library"]], name), f"{entry['id']}: {name} is not in {entry['library']}"
        checked += 1
    assert checked > 90


@pytest.mark.parametrize(("model_id", "line"), [
    ("stabilityai/sd-vae-ft-mse", 'AutoencoderKL.from_pretrained("stabilityai/sd-vae-ft-mse")'),
    ("lllyasviel/sd-controlnet-canny", 'ControlNetModel.from_pretrained("lllyasviel/sd-controlnet-canny")'),
    ("Wan-AI/Wan2.1-T2V-1.3B", 'WanPipeline.from_pretrained("Wan-AI/Wan2.1-T2V-1.3B-Diffusers")'),
    ("cross-encoder/ms-marco-MiniLM-L6-v2", 'CrossEncoder("cross-encoder/ms-marco-MiniLM-L6-v2")'),
])
def test_models_that_are_not_pipelines_load_with_their_own_class(entries, model_id, line):
    assert catalog.load_snippet(next(e for e in entries if e["id"] == model_id)) == line


def test_a_licence_reads_the_same_everywhere(entries):
    turbo = next(e for e in entries if e["id"] == "stabilityai/sdxl-turbo")
    assert "Non-Commercial Research Community License" in turbo["licence_note"]
    assert catalog.licence_class(turbo["licence"], turbo["licence_note"]) == "non-commercial"
    assert "non-commercial" in turbo["why"]


def test_spaces_and_tasks_validate():
    spaces = catalog.spaces()
    assert len(spaces) >= 20
    chat = [s for s in spaces if s["category"] == "llm-chat"]
    assert len(chat) >= 3 and sum("open-weights" in s["shows"] for s in chat) >= 2
    page = pages.spaces_page()
    assert "## Why Spaces catch on" in page and "spaces-zerogpu" in page and "arxiv" in page.lower()
    tags = catalog.tasks()
    assert {"text-generation", "automatic-speech-recognition", "text-to-image"} <= set(tags["tag"])
    assert {"tokenizer", "feature-extractor"} <= set(tags["tag"])


def test_generated_pages_are_current():
    assert pages.stale() == [], "run `python -m fieldguide pages` and commit the result"


def test_the_repository_url_is_set_in_one_place_and_used_everywhere():
    """_config.yml holds it; README, the setup page and every install cell use exactly that URL."""
    from fieldguide import pages

    url = pages.repository_url()
    root = Path(pages.CHECKOUT_DATA.parent)
    for pattern in pages.REPOSITORY_USERS:
        for path in sorted(root.glob(pattern)):
            text = path.read_text(encoding="utf-8")
            assert url in text, f"{path.name} does not point at {url}"
            others = {u for u in re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", text) if "field-guide" in u} - {url}
            assert not others, f"{path.name} names another course URL: {others}"


def test_set_repository_rewrites_every_use(tmp_path):
    from fieldguide import pages

    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/a/field-guide\n")
    (tmp_path / "README.md").write_text("git clone https://github.com/a/field-guide\n")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "00-x.ipynb").write_text('{"x": "git+https://github.com/a/field-guide"}')
    changed = pages.set_repository("https://github.com/b/field-guide", tmp_path)
    assert len(changed) == 3 and pages.repository_url(tmp_path) == "https://github.com/b/field-guide"
    assert "github.com/b/field-guide" in (tmp_path / "notebooks" / "00-x.ipynb").read_text()


def test_generated_pages_keep_dunder_names_as_code():
    """Markdown would render a bare pipelines/__init__.py as bold 'init'."""
    import re

    from fieldguide import pages

    for name, make in pages.PAGES.items():
        bare = re.findall(r"(?<!`)[\w./-]*__\w+__[\w./-]*", re.sub(r"`[^`]*`", "", make()))
        assert not bare, f"{name}: {bare[:3]}"
