"""The Field Guide model finder as a Space: `python app.py` (or, in the course, `python -m fieldguide app`).

The logic lives in the course package (fieldguide/finder.py), so the notebook, the tests and this
app run the same code.
"""

import os

for name, value in (("GRADIO_ANALYTICS_ENABLED", "False"), ("HF_HUB_DISABLE_TELEMETRY", "1")):
    os.environ.setdefault(name, value)

from fieldguide import finder  # noqa: E402 -- after the environment is set

if __name__ == "__main__":
    # On a Space, the platform routes traffic to port 7860 and the app must listen on 0.0.0.0
    # (SPACE_ID is set there); anywhere else it stays on this machine.
    on_space = "SPACE_ID" in os.environ
    finder.main(host="0.0.0.0" if on_space else "127.0.0.1", port=int(os.environ.get("PORT", 7860)))
