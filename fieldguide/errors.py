"""The one exception the course raises on purpose, shown as one sentence, not a traceback."""

from __future__ import annotations


class FieldGuideError(RuntimeError):
    """A problem the learner can fix; the message says how.

    IPython calls ``_render_traceback_`` instead of printing a traceback, so a notebook shows
    only the sentence. The command line prints the sentence and exits with status 2.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"\u26d4 {self}"]
