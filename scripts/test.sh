#!/usr/bin/env bash
# Command 2 of 2: every test, offline. Run scripts/setup.sh once first.
#  1. the book, with warnings as errors
#  2. unit tests (the kit under faults, the catalog, the checks, the grader, the pattern of every
#     notebook) and the browser test of the built book (Debian's chromium; skipped without it)
#  3. nbval on every notebook alone, in an empty folder with fieldguide imported from its built
#     wheel (as on Colab), its stored outputs compared, its wall time and peak memory measured
#     (fails over the budget): _build/measurements.json. One notebook at a time: two at once on
#     two cores made each several times slower (their thread pools fight), not the suite faster.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "No .venv yet: run bash scripts/setup.sh first." >&2; exit 2; }

export HF_HUB_OFFLINE=1 FIELDGUIDE_ASSUME_OFFLINE=1
export HF_HUB_DISABLE_TELEMETRY=1 GRADIO_ANALYTICS_ENABLED=False
MAX_NOTEBOOK_MB="${MAX_NOTEBOOK_MB:-1536}"

echo "== the book"
.venv/bin/jupyter-book build . --all -W -n --keep-going --quiet

echo "== unit tests and the browser test"
if [ ! -x "${FIELDGUIDE_CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "The browser test of the book is skipped: no Chromium here (sudo apt-get install chromium enables it)."
fi
.venv/bin/python -m pytest tests -q --durations=12  # the slowest tests, to keep the command in its budget

echo "== notebooks: nbval, each alone from the built wheel, measured (budget: ${MAX_NOTEBOOK_MB} MB peak)"
.venv/bin/python scripts/notebooks.py test notebooks/*.ipynb --from-wheel --jobs "${NOTEBOOK_JOBS:-1}" \
  --json _build/measurements.json --max-mb "$MAX_NOTEBOOK_MB"
