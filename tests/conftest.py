"""Shared fixtures: a temporary Hugging Face cache and a copy of the course registry."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fieldguide import kit

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty hub cache that the kit and huggingface_hub both use."""
    hub = tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    return hub


@pytest.fixture
def registry() -> dict[str, kit.CourseModel]:
    return kit.load_registry()


def edited_registry(tmp_path: Path, model_id: str, edit) -> dict[str, kit.CourseModel]:
    """The registry with one entry changed by ``edit(entry)``, read back through load_registry."""
    data = yaml.safe_load(kit.data_path(kit.REGISTRY_FILE).read_text())
    for entry in data["models"]:
        if entry["id"] == model_id:
            edit(entry)
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(data))
    return kit.load_registry(path)
