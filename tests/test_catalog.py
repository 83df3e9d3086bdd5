"""The catalog: the committed data validates, broken files fail naming entry and field, suggest() works."""

from __future__ import annotations

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


def test_the_catalog_has_exactly_100_sourced_entries_in_every_domain(entries):
    assert len(entries) == 100
    assert len({e["id"] for e in entries}) == 100
    assert {e["domain"] for e in entries} == {d["id"] for d in yaml.safe_load(data_path("domains.yaml").read_text())}
    assert all(e["source"].startswith("https://") and e["checked"] for e in entries)


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


def test_spaces_and_tasks_validate():
    assert len(catalog.spaces()) >= 20
    tags = catalog.tasks()
    assert {"text-generation", "automatic-speech-recognition", "text-to-image"} <= set(tags["tag"])
    assert {"tokenizer", "feature-extractor"} <= set(tags["tag"])


def test_generated_pages_are_current():
    assert pages.stale() == [], "run `python -m fieldguide pages` and commit the result"
