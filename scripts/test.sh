#!/usr/bin/env bash
# Command 2 of 2: every test, offline. Run scripts/setup.sh once first.
#  1. each notebook alone in a fresh kernel: wall time and peak memory (fails over the budget)
#  2. the book, with warnings as errors
#  3. unit tests and nbval: every notebook re-executed, its stored outputs compared
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "No .venv yet: run bash scripts/setup.sh first." >&2; exit 2; }

export HF_HUB_OFFLINE=1 FIELDGUIDE_ASSUME_OFFLINE=1
export HF_HUB_DISABLE_TELEMETRY=1 GRADIO_ANALYTICS_ENABLED=False
MAX_NOTEBOOK_MB="${MAX_NOTEBOOK_MB:-1536}"

echo "== notebooks, each alone (budget: ${MAX_NOTEBOOK_MB} MB peak)"
.venv/bin/python scripts/notebooks.py measure notebooks/*.ipynb \
  --json _build/measurements.json --max-mb "$MAX_NOTEBOOK_MB"

echo "== the book"
.venv/bin/jupyter-book build . --all -W -n --keep-going --quiet

echo "== unit tests and nbval"
.venv/bin/python -m pytest tests notebooks --nbval --nbval-cell-timeout=300 \
  --nbval-sanitize-with tests/nbval-sanitize.cfg -q
