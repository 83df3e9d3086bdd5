"""Run the course's notebooks the way a learner would: alone, in a fresh kernel, and measure them.

    python scripts/notebooks.py run NOTEBOOK...      execute in place, store outputs (for authors)
    python scripts/notebooks.py measure NOTEBOOK...  wall time and peak memory of each, as a table
                                                     (--json FILE writes them; --max-mb fails above)

Each notebook runs in its own child process whose kernel is its only child, so the peak resident
memory the operating system reports for that process's children is the kernel's peak.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

VOLATILE_METADATA = ("execution", "collapsed", "scrolled")


def execute(path: Path, store: bool, timeout: int = 600) -> dict[str, float]:
    """Execute one notebook in a fresh kernel from its own folder; optionally store its outputs."""
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if store:
        for cell in notebook.cells:
            for key in VOLATILE_METADATA:
                cell.metadata.pop(key, None)
        nbformat.write(notebook, path)
    return {"seconds": round(seconds, 1), "peak_mb": round(peak_mb)}


def measure(paths: list[Path], store: bool) -> dict[str, dict[str, float]]:
    """Run each notebook in a child process and collect its time and peak memory."""
    results = {}
    for path in paths:
        command = [sys.executable, __file__, "_one", str(path)] + (["--store"] if store else [])
        finished = subprocess.run(command, capture_output=True, text=True)
        if finished.returncode != 0:
            sys.stderr.write(finished.stderr[-4000:])
            raise SystemExit(f"{path} failed to run")
        results[path.name] = json.loads(finished.stdout.strip().splitlines()[-1])
        print(f"{path.name:<36} {results[path.name]['seconds']:>6} s  {results[path.name]['peak_mb']:>6} MB", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("run", "measure", "_one"))
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--store", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="write the measurements to this file")
    parser.add_argument("--max-mb", type=float, help="fail if a notebook's peak memory is above this")
    args = parser.parse_args()
    if args.action == "_one":
        print(json.dumps(execute(args.notebooks[0], store=args.store)))
        return 0
    results = measure(args.notebooks, store=args.action == "run")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    too_big = {name: r["peak_mb"] for name, r in results.items() if args.max_mb and r["peak_mb"] > args.max_mb}
    if too_big:
        print(f"over the {args.max_mb:.0f} MB memory budget: {too_big}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
