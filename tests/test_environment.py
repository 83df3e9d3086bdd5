"""The environment: pins agree, setup() decides offline fast and early, missing models stop cleanly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from fieldguide import network
from fieldguide.errors import FieldGuideError

ROOT = Path(__file__).resolve().parent.parent


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==(\S+)", line.strip())
        if match:
            found[match[1].lower()] = match[2]
    return found


def test_environment_yml_repeats_requirements_txt_exactly():
    requirements = pins((ROOT / "requirements.txt").read_text().splitlines())
    conda = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in conda["dependencies"] if isinstance(item, dict))
    assert "python=3.11" in conda["dependencies"]
    assert pins(pip_section) == requirements
    assert requirements["torch"] == "2.13.0" and requirements["jupyter-book"].startswith("1.")


def test_hub_probe_answers_within_its_timeout_even_when_the_network_hangs(monkeypatch):
    monkeypatch.delenv("FIELDGUIDE_ASSUME_OFFLINE", raising=False)
    monkeypatch.setattr(network, "http_problem", lambda *args: time.sleep(10))
    started = time.perf_counter()
    assert network.hub_reachable(timeout=0.5) is False
    assert time.perf_counter() - started < 1.5


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "FIELDGUIDE_ASSUME_OFFLINE")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**clean, **env})


def test_the_real_hub_probe_decides_within_two_seconds(monkeypatch):
    monkeypatch.delenv("FIELDGUIDE_ASSUME_OFFLINE", raising=False)
    started = time.perf_counter()
    network.hub_reachable()
    assert time.perf_counter() - started < 2.0


def test_setup_sets_the_offline_flag_before_huggingface_hub_reads_it(tmp_path):
    code = "import fieldguide; fieldguide.setup(quiet=True); import huggingface_hub.constants as c; print(c.HF_HUB_OFFLINE)"
    result = run_python(code, FIELDGUIDE_ASSUME_OFFLINE="1", HF_HUB_CACHE=str(tmp_path))
    assert result.stdout.strip() == "True", result.stderr


def test_setup_respects_an_explicit_offline_flag_and_prints_a_banner(tmp_path):
    result = run_python("import fieldguide; fieldguide.setup()", HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(tmp_path))
    assert "offline (HF_HUB_OFFLINE=1)" in result.stdout and "Python 3." in result.stdout


def test_a_missing_model_stops_setup_with_one_sentence(tmp_path, monkeypatch):
    import fieldguide

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(FieldGuideError, match=r"^This chapter needs HuggingFaceTB/SmolLM2-135M-Instruct, .*run `python -m fieldguide models install HuggingFaceTB/SmolLM2-135M-Instruct`"):
        fieldguide.setup(models=["HuggingFaceTB/SmolLM2-135M-Instruct"], quiet=True)


def test_the_package_imports_no_hugging_face_library():
    result = run_python("import sys, fieldguide; print([m for m in ('transformers', 'huggingface_hub', 'torch') if m in sys.modules])")
    assert result.stdout.strip() == "[]", result.stderr


def test_cpu_budget_follows_a_container_quota(monkeypatch):
    from fieldguide import environment

    assert 1 <= environment.cpu_budget() <= (os.cpu_count() or 1)
    files = {"/sys/fs/cgroup/cpu.max": "150000 100000\n"}

    def fake_read(path):
        if path not in files:
            raise OSError(path)
        return files[path]

    monkeypatch.setattr(environment, "_read", fake_read)
    assert environment._cgroup_cpu_quota() == 2
    files["/sys/fs/cgroup/cpu.max"] = "max 100000\n"
    assert environment._cgroup_cpu_quota() is None


def test_a_hub_that_accepts_tcp_but_fails_https_means_offline(tmp_path, monkeypatch):
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []
    threading.Thread(target=lambda: [held.append(server.accept()) for _ in range(8)], daemon=True).start()
    endpoint = f"https://127.0.0.1:{server.getsockname()[1]}"
    try:
        monkeypatch.delenv("FIELDGUIDE_ASSUME_OFFLINE", raising=False)
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        started = time.perf_counter()
        assert network.hub_reachable(timeout=1.0) is False
        assert time.perf_counter() - started < 2.0  # the probe's budget, not minutes of retries
        code = "import fieldguide, os; env = fieldguide.setup(quiet=True); print(env.online, os.environ['HF_HUB_OFFLINE'])"
        result = run_python(code, HF_ENDPOINT=endpoint, HF_HUB_CACHE=str(tmp_path))
        assert result.stdout.strip() == "False 1", result.stderr
    finally:
        server.close()


def test_the_probe_wants_an_http_answer(monkeypatch):
    import http.server
    import threading

    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.delenv("FIELDGUIDE_ASSUME_OFFLINE", raising=False)
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        assert network.hub_reachable(timeout=5) is True
    finally:
        server.shutdown()
        server.server_close()
    assert network.http_problem(f"http://127.0.0.1:{server.server_port}/", timeout=1) is not None


def test_a_hanging_dns_lookup_does_not_hold_up_the_process_exit():
    code = (
        "import time; from fieldguide import network\n"
        "network.http_problem = lambda *args: time.sleep(20)\n"
        "print(network.hub_reachable(timeout=0.5))"
    )
    started = time.perf_counter()
    result = run_python(code)
    assert result.stdout.strip() == "False", result.stderr
    assert time.perf_counter() - started < 8  # interpreter start-up included; the stuck look-up is not waited for
