"""Run the course's notebooks the way a learner would: alone, in a fresh kernel, and measure them.

    python scripts/notebooks.py run NOTEBOOK...      execute in place, store outputs (for authors)
    python scripts/notebooks.py measure NOTEBOOK...  wall time and peak memory of each, as a table
                                                     (--json FILE writes them; --max-mb fails above)
    python scripts/notebooks.py test NOTEBOOK...     nbval on each notebook alone, measured as it runs
                                                     (one execution per notebook; same --json/--max-mb)
    python scripts/notebooks.py stability [NOTEBOOK...]
                                                     nbval under other CPU paths, 1 thread and load;
                                                     lists the cells whose stored output did not hold

Each notebook runs in its own child process whose kernel is its only child, so the peak resident
memory the operating system reports for that process's children is the kernel's peak.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
from nbclient import NotebookClient

VOLATILE_METADATA = ("execution", "collapsed", "scrolled")
ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_TIMEOUT_S = 900  # a whole notebook under nbval; a hang fails the suite instead of stalling CI
NBVAL = ["--nbval", "--nbval-cell-timeout=300", f"--nbval-sanitize-with={ROOT / 'tests' / 'nbval-sanitize.cfg'}",
         "-p", "no:cacheprovider", "-q"]
# What one machine can vary of what another CPU would do differently (see README, "Stable outputs").
# Each runs every notebook's nbval once; "busy" adds two spinning processes for the whole run.
VARIATIONS: dict[str, dict[str, str]] = {
    "1 thread": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    "no SIMD kernels": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
                        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "MKL_CBWR": "COMPATIBLE"},
    "AVX2 kernels, CTranslate2 with MKL": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                                           "CT2_USE_MKL": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "CTranslate2 without MKL": {"CT2_USE_MKL": "0"},
    "busy": {},
}


def execute(path: Path, store: bool, timeout: int = 600) -> dict[str, float]:
    """Execute one notebook in a fresh kernel from its own folder; optionally store its outputs."""
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3", coalesce_streams=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
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


def build_wheel(into: Path) -> Path:
    """Build the fieldguide wheel and install it, alone, into ``into`` (a folder for PYTHONPATH)."""
    wheels = into / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next(wheels.glob("fieldguide-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(into / "site"),
                    str(wheel)], check=True, capture_output=True)
    return into / "site"


def nbval(path: Path, env: dict[str, str] | None = None, wheel_site: Path | None = None) -> tuple[dict[str, float], list[str], str]:
    """nbval on one notebook in a child process: its measurements, the failing cells, the output tail.

    With ``wheel_site`` the notebook runs as on Colab after its install cell: copied alone into an
    empty folder, importing the fieldguide package from the built wheel (all its data inside it).
    """
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "junit.xml"
        cwd, target, extra = ROOT, path, dict(env or {})
        if wheel_site is not None:
            cwd = Path(scratch) / "empty"
            cwd.mkdir()
            target = cwd / path.name
            target.write_bytes(path.read_bytes())
            extra["PYTHONPATH"] = str(wheel_site)
        started = time.perf_counter()
        finished = subprocess.run([sys.executable, "-m", "pytest", str(target), *NBVAL, f"--junitxml={report}",
                                   "--rootdir", str(cwd)],
                                  capture_output=True, text=True, cwd=cwd, env={**os.environ, **extra})
        seconds = time.perf_counter() - started
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        failed = []
        if report.is_file():
            for case in ElementTree.parse(report).iter("testcase"):
                if case.find("failure") is not None or case.find("error") is not None:
                    failed.append(case.get("name", "?"))
        elif finished.returncode:
            failed.append("(pytest did not run)")
    # ru_maxrss of children is the largest child so far (pytest or its kernel): call this once per
    # process for a notebook's own peak, as `test` does through `_nbval`.
    return {"seconds": round(seconds, 1), "peak_mb": round(peak_kb / 1024)}, failed, finished.stdout[-3000:]


def test(paths: list[Path], from_wheel: bool, jobs: int = 1) -> tuple[dict[str, dict[str, float]], dict[str, list[str]]]:
    """nbval each notebook alone, each in its own process so its peak memory is its own.

    With ``jobs`` > 1 that many notebooks run at once (each still alone in its process). On two cores
    this made each notebook several times slower (their torch thread pools fight), so the suite runs
    with 1; the times measured with more are those of a shared machine, not a notebook's own.
    """
    results, failures = {}, {}
    scratch = Path(tempfile.mkdtemp(prefix="fieldguide-wheel-"))
    wheel = ["--wheel-site", str(build_wheel(scratch))] if from_wheel else []

    def one(path: Path) -> dict:
        try:
            finished = subprocess.run([sys.executable, __file__, "_nbval", str(path), *wheel], capture_output=True,
                                      text=True, timeout=NOTEBOOK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return {"measured": {"seconds": float(NOTEBOOK_TIMEOUT_S), "peak_mb": 0},
                    "failed": [f"(did not finish in {NOTEBOOK_TIMEOUT_S} s)"], "tail": ""}
        lines = finished.stdout.strip().splitlines()
        if finished.returncode or not lines:
            return {"measured": {"seconds": 0.0, "peak_mb": 0}, "failed": ["(the runner failed)"],
                    "tail": finished.stderr[-3000:]}
        return json.loads(lines[-1])

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        outcomes = {path: pool.submit(one, path) for path in paths}
        for path, future in outcomes.items():
            outcome = future.result()
            results[path.name] = outcome["measured"]
            if outcome["failed"]:
                failures[path.name] = outcome["failed"]
                sys.stdout.write(outcome["tail"])
            state = "ok" if not outcome["failed"] else f"FAILED: {', '.join(outcome['failed'])}"
            print(f"{path.name:<36} {outcome['measured']['seconds']:>6} s  {outcome['measured']['peak_mb']:>6} MB  {state}", flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    return results, failures


def stability(paths: list[Path], names: list[str], jobs: int = 1) -> dict[str, dict[str, list[str]]]:
    """nbval over every notebook under each variation; the cells that differ, per variation (``jobs`` at once)."""
    report: dict[str, dict[str, list[str]]] = {}
    for name in names:
        spinners = []
        if name == "busy":  # two processes spinning for the whole run, bounded by this loop
            spin = "import time\nend = time.time() + 3600\nwhile time.time() < end: pass"
            spinners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(2)]
        try:
            started = time.perf_counter()
            report[name] = {}
            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                runs = {path: pool.submit(nbval, path, VARIATIONS[name]) for path in paths}
                for path, future in runs.items():
                    _, failed, _ = future.result()
                    if failed:
                        report[name][path.name] = failed
            count = sum(len(cells) for cells in report[name].values())
            print(f"{name:<40} {count:>3} differing cells  ({time.perf_counter() - started:.0f} s)", flush=True)
            for notebook, cells in report[name].items():
                print(f"    {notebook}: {', '.join(cells)}")
        finally:
            for spinner in spinners:
                spinner.kill()
                spinner.wait()
    return report


def record(path: Path, results: dict[str, dict[str, float]]) -> None:
    """Merge this run's measurements into ``path`` with the date, the cores and the library versions."""
    import datetime
    from importlib import metadata

    from fieldguide.environment import cpu_budget

    previous = json.loads(path.read_text()) if path.is_file() else {}
    today = datetime.date.today().isoformat()
    libraries = ("torch", "transformers", "sentence-transformers", "diffusers", "huggingface-hub", "nbval")
    path.write_text(json.dumps({
        "cores": cpu_budget(),
        "versions": {name: metadata.version(name) for name in libraries},
        "notebooks": {**previous.get("notebooks", {}), **{name: {**r, "date": today} for name, r in results.items()}},
    }, indent=2, sort_keys=True) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("run", "measure", "test", "stability", "_one", "_nbval"))
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--from-wheel", action="store_true", help="test: run each notebook alone in an empty "
                        "folder with fieldguide imported from its built wheel, as Colab does after the install cell")
    parser.add_argument("--wheel-site", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--variation", action="append", choices=list(VARIATIONS),
                        help="stability: only these variations (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="test, stability: notebooks run at once (default 1; "
                        "measure with 1, as --record does)")
    parser.add_argument("--store", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="write the measurements to this file")
    parser.add_argument("--max-mb", type=float, help="fail if a notebook's peak memory is above this")
    parser.add_argument("--record", type=Path, help="test: when all pass, write the measurements, date and "
                        "library versions here (data/measurements.json feeds the book's badges)")
    args = parser.parse_args()
    args.notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if args.action == "_one":
        print(json.dumps(execute(args.notebooks[0], store=args.store)))
        return 0
    if args.action == "_nbval":
        measured, failed, tail = nbval(args.notebooks[0], wheel_site=args.wheel_site)
        print(json.dumps({"measured": measured, "failed": failed, "tail": tail}))
        return 0
    if args.action == "stability":
        report = stability(args.notebooks, args.variation or list(VARIATIONS), args.jobs)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2) + "\n")
        return 1 if any(report.values()) else 0
    if args.record and args.jobs != 1:
        parser.error("--record measures each notebook alone: use it with --jobs 1")
    failures: dict[str, list[str]] = {}
    if args.action == "test":
        results, failures = test(args.notebooks, args.from_wheel, args.jobs)
    else:
        results = measure(args.notebooks, store=args.action == "run")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    too_big = {name: r["peak_mb"] for name, r in results.items() if args.max_mb and r["peak_mb"] > args.max_mb}
    if too_big:
        print(f"over the {args.max_mb:.0f} MB memory budget: {too_big}", file=sys.stderr)
    if failures:
        cells = sum(len(c) for c in failures.values())
        print(f"nbval: {cells} cell(s) failed in {len(failures)} notebook(s): {failures}", file=sys.stderr)
    if args.record and not failures and not too_big:
        record(args.record, results)
    print(f"notebooks: {len(results) - len(failures)} passed, {len(failures)} failed")
    return 1 if too_big or failures else 0


if __name__ == "__main__":
    sys.exit(main())
