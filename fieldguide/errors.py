"""The one exception the course raises on purpose, shown as one sentence, not a traceback."""

from __future__ import annotations

import errno
import os
from pathlib import Path


class FieldGuideError(RuntimeError):
    """A problem the learner can fix; the message says how.

    IPython calls ``_render_traceback_`` instead of printing a traceback, so a notebook shows
    only the sentence. The command line prints the sentence and exits with status 2.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"\u26d4 {self}"]


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: raised in the main thread so that temporary folders are removed."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal_number)
        self.signal_number = signal_number


def cache_setting() -> str:
    """The environment variable that moves the Hugging Face cache here (HF_HUB_CACHE wins over HF_HOME)."""
    return "HF_HUB_CACHE" if os.environ.get("HF_HUB_CACHE") else "HF_HOME"


def disk_full(error: BaseException) -> bool:
    """True when an error (an OSError, or a library's wrapper of one) says the disk is full."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    text = str(error)
    return any(sign in text for sign in ("No space left on device", "os error 28", "StorageFull"))


def cache_error(error: OSError, cache: Path) -> FieldGuideError:
    """One sentence for a file-system failure in the Hugging Face cache, naming the setting that fixes it."""
    setting, where = cache_setting(), error.filename or cache
    if disk_full(error):
        text = f"The disk that holds {cache} is full; free some space, or set {setting} to a folder on a larger disk"
    elif error.errno in (errno.ENOTDIR, errno.EEXIST):
        blocker = next((p for p in (cache, *cache.parents) if p.exists() and not p.is_dir()), where)
        text = f"The Hugging Face cache {cache} cannot be created because {blocker} is a file; set {setting} to a folder"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        text = (f"Cannot write to {where} ({error.strerror}); make the Hugging Face cache {cache} writable for you, "
                f"or set {setting} to a folder of your own")
    else:
        text = f"{type(error).__name__} on {where} ({error.strerror or error}); check the disk, or set {setting} to another folder"
    return FieldGuideError(f"{text}, and run the command again.")
