"""A fast answer to "can this machine reach the Hugging Face Hub?"."""

from __future__ import annotations

import os
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

HUB_HOST = "huggingface.co"


def _connect(host: str, port: int, timeout: float) -> None:
    with socket.create_connection((host, port), timeout=timeout):
        pass


def hub_reachable(timeout: float = 1.5) -> bool:
    """True when a TCP connection to the Hub opens within ``timeout`` seconds.

    The DNS look-up runs in a worker thread so that a resolver that hangs cannot stall a
    notebook: the answer comes in at most ``timeout`` seconds either way.
    ``FIELDGUIDE_ASSUME_OFFLINE=1`` answers False without touching the network.
    """
    if os.environ.get("FIELDGUIDE_ASSUME_OFFLINE") == "1":
        return False
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        pool.submit(_connect, HUB_HOST, 443, timeout).result(timeout=timeout)
        return True
    except (OSError, FutureTimeout):
        return False
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
