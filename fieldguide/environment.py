"""``fieldguide.setup()``: the first cell of every chapter.

It must run before transformers or huggingface_hub is imported, because both read
``HF_HUB_OFFLINE`` once, at import time. So this module imports neither.
"""

from __future__ import annotations

import os
import platform
import sys
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Iterable

from fieldguide import kit
from fieldguide.errors import FieldGuideError
from fieldguide.network import hub_reachable

QUIET_SETTINGS = {
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
    "GRADIO_ANALYTICS_ENABLED": "False",
}
LIBRARIES = ("torch", "transformers", "sentence-transformers", "diffusers", "huggingface-hub")


@dataclass(frozen=True)
class CourseEnvironment:
    """What ``setup()`` found: the banner's facts, for code that wants them."""

    online: bool
    device: str
    models: dict[str, kit.CourseModel]
    copies: dict[str, kit.Copy] = field(default_factory=dict)

    def revision(self, model_id: str) -> str:
        """The revision of a course model as installed, for ``from_pretrained(..., revision=...)``.

        The Hub's pinned revision, or the course's own revision of an offline copy whose weights
        differ from the Hub's (it is never presented as the Hub revision).
        """
        copy = self.copies.get(model_id)
        return copy.revision if copy else self.models[model_id].revision


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _where() -> str:
    if "google.colab" in sys.modules or os.environ.get("COLAB_RELEASE_TAG"):
        return "Colab"
    if os.environ.get("BINDER_LAUNCH_HOST") or os.environ.get("BINDER_REQUEST"):
        return "Binder"
    return "local"


def cpu_budget() -> int:
    """The CPUs this process may really use: its affinity, capped by a container's CPU quota.

    On Binder and in many lab containers ``os.cpu_count()`` reports the host's cores while the
    container gets one or two; PyTorch then starts a thread per host core and runs several times
    slower than with the right number.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cgroup_cpu_quota()
    return max(1, min(cores, quota) if quota else cores)


def _cgroup_cpu_quota() -> int | None:
    """The container's CPU quota rounded up (cgroup v2, then v1), or None when there is none."""
    for path, parse in (
        ("/sys/fs/cgroup/cpu.max", lambda text: text.split()[:2]),
        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", lambda text: [text.strip(), _read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")]),
    ):
        try:
            quota, period = parse(_read(path))
            if quota not in ("max", "-1"):
                return max(1, -(-int(quota) // int(period)))
        except (OSError, ValueError):
            continue
    return None


def _int_env(name: str) -> int | None:
    try:
        return max(1, int(os.environ[name]))
    except (KeyError, ValueError):
        return None


def _read(path: str) -> str:
    with open(path, encoding="ascii") as handle:
        return handle.read()


def _device(threads: int) -> str:
    import torch

    torch.set_num_threads(threads)
    if torch.cuda.is_available():
        return f"GPU ({torch.cuda.get_device_name(0)})"
    return f"CPU ({threads} threads)"


def _decide_online() -> bool:
    """Respect an explicit HF_HUB_OFFLINE; otherwise probe the Hub for at most ~1.5 s."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    online = hub_reachable()
    os.environ["HF_HUB_OFFLINE"] = "0" if online else "1"
    return online


def setup(models: Iterable[str] | str = (), quiet: bool = False) -> CourseEnvironment:
    """Prepare a chapter: decide online/offline, quieten progress bars, check its models.

    ``models`` are the Hub ids the chapter runs (one id or several). Each must be installed and
    match its pins (a fast size-and-mtime check, re-hashing any file that changed); otherwise the
    notebook stops with a sentence that names the command to run. Online (Colab, Binder) missing
    models are downloaded at their pinned revision first. Prints a short banner unless ``quiet``.
    """
    if "huggingface_hub" in sys.modules and "HF_HUB_OFFLINE" not in os.environ:
        warnings.warn("Call fieldguide.setup() before importing transformers: the offline flag came too late.")
    for name, value in QUIET_SETTINGS.items():
        os.environ.setdefault(name, value)
    threads = min(cpu_budget(), _int_env("OMP_NUM_THREADS") or 1 << 16)  # a lower OMP_NUM_THREADS wins
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets
    online = _decide_online()
    registry = kit.load_registry()
    wanted = kit.resolve(models, registry)
    if online and wanted:
        try:
            kit.install([m.id for m in wanted], source="hub", registry=registry, log=lambda _: None)
        except FieldGuideError as error:  # fall back to what is installed, offline
            warnings.warn(f"{error} Continuing offline with the copies already installed.")
            os.environ["HF_HUB_OFFLINE"] = "1"
            online = False
    copies = kit.require([m.id for m in wanted], registry=registry)
    environment = CourseEnvironment(
        online=online, device=_device(threads), models={m.id: m for m in wanted}, copies={c.model.id: c for c in copies}
    )
    if not quiet:
        print(banner(environment))
    return environment


def banner(environment: CourseEnvironment) -> str:
    """A few lines that say what this chapter runs on, and which copy of each model."""
    versions = ", ".join(f"{name} {_version(name)}" for name in LIBRARIES[:3])
    mode = "online (the Hub is reachable)" if environment.online else "offline (HF_HUB_OFFLINE=1)"
    lines = [
        f"Python {platform.python_version()} · {versions}",
        f"{environment.device} · {_where()} · {mode}",
    ]
    for copy in environment.copies.values():
        label = f"; {copy.label}" if copy.label else ""
        lines.append(f"  ready   {copy.model.id} @ {copy.revision[:7]} ({copy.model.licence}{label})")
    return "\n".join(lines)


# --- Memory: for chapters that load and drop several models in one process -----------------------

def _libc() -> Any | None:
    """The C library through ctypes, or None where it cannot be loaded."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def lean_malloc(arenas: int = 2, mmap_threshold: int = 1 << 20) -> None:
    """Make glibc's malloc give memory back: a few arenas, and blocks of 1 MiB or more mapped on their own.

    Each server worker thread would otherwise keep its own arena of freed memory, and glibc raises its
    mmap threshold as big blocks are freed, so a model's freed activations stay resident. It took
    chapter 14's peak from about 1.52 GB to 1.40 GB. Does nothing where the C library is not glibc.
    """
    libc = _libc()
    if hasattr(libc, "mallopt"):
        libc.mallopt(-8, arenas)  # M_ARENA_MAX
        libc.mallopt(-3, mmap_threshold)  # M_MMAP_THRESHOLD (fixing it stops glibc from raising it)


def release_memory() -> None:
    """Collect garbage, then hand the C heap's free pages back to the system (glibc's malloc_trim).

    Without the trim, memory freed by a deleted model stays in the process: resident, counted, unused.
    Does nothing more than ``gc.collect()`` where the C library is not glibc.
    """
    import gc

    gc.collect()
    libc = _libc()
    if hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
