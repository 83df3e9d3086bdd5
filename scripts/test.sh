#!/usr/bin/env bash
# Command 2 of 2: every test, offline. Run scripts/setup.sh once first.
#  1. unit tests (the kit, the catalog, the checks, the pattern of every notebook)
#  2. the book, with warnings as errors
#  3. nbval on every notebook alone in a fresh kernel: its stored outputs compared, its wall time
#     and peak memory measured as it runs (fails over the budget): _build/measurements.json
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "No .venv yet: run bash scripts/setup.sh first." >&2; exit 2; }

export HF_HUB_OFFLINE=1 FIELDGUIDE_ASSUME_OFFLINE=1
export HF_HUB_DISABLE_TELEMETRY=1 GRADIO_ANALYTICS_ENABLED=False
MAX_NOTEBOOK_MB="${MAX_NOTEBOOK_MB:-1536}"

echo "== unit tests"
.venv/bin/python -m pytest tests -q

echo "== the book"
.venv/bin/jupyter-book build . --all -W -n --keep-going --quiet

echo "== notebooks: nbval, each alone, measured (budget: ${MAX_NOTEBOOK_MB} MB peak)"
.venv/bin/python scripts/notebooks.py test notebooks/*.ipynb \
  --json _build/measurements.json --max-mb "$MAX_NOTEBOOK_MB"
