"""A fast answer to "can this machine reach the Hugging Face Hub?", and a free local port."""

from __future__ import annotations

import os
import socket
import threading
import urllib.request

HUB_ENDPOINT = "https://huggingface.co"


def http_problem(url: str, timeout: float = 5.0) -> str | None:
    """Why ``url`` gives no HTTP answer below 400 (TLS handshake and all) within ``timeout``, or None when it does."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "fieldguide-probe"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return None if int(response.status) < 400 else f"HTTP {response.status}"
    except Exception as error:  # DNS, TCP, TLS and HTTP errors all mean "no answer"
        return str(getattr(error, "reason", error)) or type(error).__name__


def hub_reachable(timeout: float = 1.5) -> bool:
    """True when the Hub (``HF_ENDPOINT``, as huggingface_hub reads it) answers HTTPS within ``timeout`` seconds.

    A TCP connection is not enough: a proxy or captive portal may accept one and then fail the
    TLS handshake, and huggingface_hub would retry for minutes. The request runs in a daemon
    thread, so a DNS look-up that hangs neither delays the answer past ``timeout`` nor holds up
    the process's exit. ``FIELDGUIDE_ASSUME_OFFLINE=1`` answers False without touching the network.
    """
    if os.environ.get("FIELDGUIDE_ASSUME_OFFLINE") == "1":
        return False
    url = os.environ.get("HF_ENDPOINT", HUB_ENDPOINT).rstrip("/") + "/"
    answers: list[bool] = []

    def probe() -> None:
        answers.append(http_problem(url, timeout) is None)

    worker = threading.Thread(target=probe, name="fieldguide-hub-probe", daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(answers and answers[0])


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]
