"""The cheat sheet's snippets (book/cheatsheet/*.md), run or checked against the installed libraries.

Each snippet is a ``{code-block}`` whose ``:class:`` says what is done with it:

- ``run``: executed, offline, one subprocess per page sharing a namespace, in a temporary folder;
  it is also checked like ``check``.
- ``check``: parsed, never run (it needs the Hub or a GPU). Every call whose target comes from an
  import is resolved in the installed library, and its arguments are bound to the target's
  signature. Arguments that land in ``**kwargs`` must be named in the target's docstring
  ("documented"); when they are not, the call counts as "target only".
- ``shell``: every ``hf``/``transformers``/``accelerate`` command line must have a ``--help`` that
  exits 0, and each of its flags must appear in that help; ``HF_*`` variables must be known to
  huggingface_hub or transformers.
- ``neither``: shown only; its first line is a comment saying why.

``python -m fieldguide.snippets [--record]`` runs everything; ``--record`` (only when all pass)
writes the date, versions and counts to data/cheatsheet-checked.json and regenerates the page.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import importlib
import inspect
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from fieldguide.resources import CHECKOUT_DATA

PAGES = CHECKOUT_DATA.parent / "book" / "cheatsheet"
RECORD = CHECKOUT_DATA / "cheatsheet-checked.json"
KINDS = ("run", "check", "shell", "neither")
CLIS = ("hf", "transformers", "accelerate", "trl")
LIBRARIES = ("huggingface-hub", "transformers", "tokenizers", "datasets", "sentence-transformers", "diffusers",
             "peft", "trl", "accelerate", "gradio", "gradio-client", "onnx", "onnxruntime", "torch")
BLOCK = re.compile(r"^```\{code-block\}[ \t]*(\w*)[ \t]*\n((?:[ \t]*:[\w-]+:[^\n]*\n)*)(.*?)^```[ \t]*$", re.M | re.S)
FENCE = re.compile(r"^```", re.M)
# What an Auto* class's from_pretrained returns is a subclass of these: methods are looked up there.
AUTO_RETURNS = {
    "AutoTokenizer": ("transformers.PreTrainedTokenizerBase",),
    "AutoProcessor": ("transformers.ProcessorMixin",),
    "AutoConfig": ("transformers.PreTrainedConfig",),
    "AutoModel": ("transformers.PreTrainedModel", "transformers.GenerationMixin"),
}
# Where the keyword arguments a callable takes through **kwargs are documented, besides its own docstring.
DOCUMENTED_BY = {
    "GenerationMixin.generate": ("transformers.GenerationConfig",),
    "_BaseAutoModelClass.from_pretrained": ("transformers.PreTrainedModel.from_pretrained",),
}
LOADERS = ("from_pretrained", "from_config", "from_single_file", "load")
UNKNOWN = object()


@dataclass(frozen=True)
class Instance:
    """A value made by ``Class(...)`` or ``Class.from_pretrained(...)``: methods are looked up on ``classes``."""

    classes: tuple[type, ...]


@dataclass(frozen=True)
class Method:
    """``instance.attr``: the function found on ``cls``."""

    cls: type
    function: Any
    attr: str


@dataclass(frozen=True)
class Snippet:
    page: str
    line: int
    kind: str
    language: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


@dataclass
class Report:
    """What the static check of one Python snippet found."""

    problems: list[str] = field(default_factory=list)
    bound: list[str] = field(default_factory=list)  # every argument bound to a named parameter
    documented: list[str] = field(default_factory=list)  # some went to **kwargs, each named in the docstring
    target_only: list[str] = field(default_factory=list)  # no signature to bind to (C functions)


def extract(path: Path) -> list[Snippet]:
    """Every marked code block of a page; a fence without a marker is an error (nothing slips through)."""
    text = path.read_text(encoding="utf-8")
    snippets, covered = [], set()
    for match in BLOCK.finditer(text):
        options = dict(re.findall(r":([\w-]+):[ \t]*(.*)", match.group(2)))
        line = text.count("\n", 0, match.start()) + 1
        kind = options.get("class", "").strip()
        if kind not in KINDS:
            raise ValueError(f"{path.name}:{line}: a snippet needs `:class:` one of {KINDS}, not {kind!r}")
        if kind == "neither" and not match.group(3).lstrip().startswith("#"):
            raise ValueError(f"{path.name}:{line}: a `neither` snippet starts with a comment saying why")
        snippets.append(Snippet(path.name, line, kind, match.group(1), match.group(3)))
        covered |= {text.count("\n", 0, match.start()), text.count("\n", 0, match.end() - 1)}
    for fence in FENCE.finditer(text):
        line = text.count("\n", 0, fence.start())
        if line not in covered:
            raise ValueError(f"{path.name}:{line + 1}: a code fence that is not a marked {{code-block}}")
    return snippets


def all_snippets(folder: Path = PAGES) -> list[Snippet]:
    return [s for path in sorted(folder.glob("*.md")) for s in extract(path)]


# ---- the static check ---------------------------------------------------------------------------

def _import(name: str) -> Any:
    return importlib.import_module(name)


def _attribute(owner: Any, name: str) -> Any:
    """``owner.name``, importing a submodule when ``owner`` is a package; UNKNOWN when absent."""
    try:
        return getattr(owner, name)
    except AttributeError:
        if inspect.ismodule(owner):
            try:
                return _import(f"{owner.__name__}.{name}")
            except ImportError:
                pass
        return UNKNOWN


def _object(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(_import(module), name)


def _returns(loader: Any) -> tuple[type, ...]:
    """The classes an instance made by ``Class(...)`` or ``Class.from_pretrained(...)`` is looked up in."""
    cls = loader if inspect.isclass(loader) else getattr(loader, "__self__", None)
    if not inspect.isclass(cls):
        return ()
    if cls.__module__.startswith("transformers") and cls.__name__.startswith("Auto"):
        key = next((k for k in AUTO_RETURNS if cls.__name__ == k), "AutoModel")
        return tuple(_object(path) for path in AUTO_RETURNS[key])
    return (cls,)


class _Checker(ast.NodeVisitor):
    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}  # names bound to modules, classes, functions
        self.imported: set[str] = set()
        self.report = Report()

    # names
    def _bind(self, name: str, value: Any) -> None:
        self.objects.pop(name, None)
        if value is not UNKNOWN and not isinstance(value, Method):
            self.objects[name] = value

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            try:
                module = _import(alias.name)
            except ImportError as error:
                self.report.problems.append(f"line {node.lineno}: import {alias.name}: {error}")
                continue
            if alias.asname:
                self._bind(alias.asname, module)
            else:
                self._bind(alias.name.split(".")[0], _import(alias.name.split(".")[0]))
            self.imported.add(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        try:
            module = _import(node.module or "")
        except ImportError as error:
            self.report.problems.append(f"line {node.lineno}: from {node.module} import ...: {error}")
            return
        for alias in node.names:
            value = _attribute(module, alias.name)
            if value is UNKNOWN:
                self.report.problems.append(f"line {node.lineno}: {node.module} has no {alias.name}")
                continue
            self._bind(alias.asname or alias.name, value)
            self.imported.add(alias.asname or alias.name)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        value = self._value(node.value)
        for target in node.targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    self._bind(name.id, value if isinstance(target, ast.Name) else UNKNOWN)

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if isinstance(item.optional_vars, ast.Name):
                self._bind(item.optional_vars.id, self._value(item.context_expr))
        for statement in node.body:
            self.visit(statement)

    def _local(self, name: str) -> None:
        self._bind(name, UNKNOWN)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._local(node.name)
        for arg in node.args.args + node.args.kwonlyargs:
            self._local(arg.arg)
        for statement in node.body:
            self.visit(statement)

    def visit_For(self, node: ast.For) -> None:
        self.visit(node.iter)
        for name in ast.walk(node.target):
            if isinstance(name, ast.Name):
                self._local(name.id)
        for statement in node.body + node.orelse:
            self.visit(statement)

    # values
    def _value(self, node: ast.AST, called: bool = False) -> Any:
        """A module/class/function, an Instance, a Method, or UNKNOWN; records missing names."""
        if isinstance(node, ast.Name):
            if node.id in self.objects:
                return self.objects[node.id]
            return getattr(builtins, node.id, UNKNOWN)
        if isinstance(node, ast.Attribute):
            owner = self._value(node.value)
            if owner is UNKNOWN:
                return UNKNOWN
            if isinstance(owner, Instance):  # look the method up on its classes
                for cls in owner.classes:
                    found = _attribute(cls, node.attr)
                    if found is not UNKNOWN:
                        static = inspect.getattr_static(cls, node.attr, None)
                        return UNKNOWN if isinstance(static, property) else Method(cls, found, node.attr)
                if called:  # a method the class does not have (instance data attributes are never called)
                    names = ", ".join(c.__qualname__ for c in owner.classes)
                    self.report.problems.append(f"line {node.lineno}: {names} has no method {node.attr}")
                return UNKNOWN
            found = _attribute(owner.function if isinstance(owner, Method) else owner, node.attr)
            if found is UNKNOWN and self._from_import(node):
                name = getattr(owner, "__name__", repr(owner))
                self.report.problems.append(f"line {node.lineno}: {name} has no attribute {node.attr}")
            return found
        if isinstance(node, ast.Call):
            target = self._value(node.func, called=True)
            if isinstance(target, Method):
                target = target.function
            if inspect.isclass(target) or (inspect.ismethod(target) and target.__name__ in LOADERS):
                classes = _returns(target)
                return Instance(classes) if classes else UNKNOWN
            return UNKNOWN
        return UNKNOWN

    def _from_import(self, node: ast.AST) -> bool:
        while isinstance(node, ast.Attribute):
            node = node.value
        return isinstance(node, ast.Name) and node.id in self.imported

    def visit_Call(self, node: ast.Call) -> None:
        for child in ast.iter_child_nodes(node):
            self.visit(child)
        target = self._value(node.func, called=True)
        if target is UNKNOWN or isinstance(target, Instance):
            return
        instance_method = False
        if isinstance(target, Method):
            instance_method = inspect.isfunction(inspect.getattr_static(target.cls, target.attr, None))
            target = target.function
        if getattr(target, "__module__", "") == "builtins" or inspect.ismodule(target) or not callable(target):
            return
        self._bind_call(node, target, instance_method)

    def _bind_call(self, node: ast.Call, target: Any, instance_method: bool) -> None:
        name = _name(target)
        try:
            signature = inspect.signature(target)
        except (TypeError, ValueError):
            self.report.target_only.append(f"{name} (no signature)")
            return
        starred = any(isinstance(a, ast.Starred) for a in node.args)
        args = [] if starred else [None] * (len(node.args) + instance_method)
        keywords = {k.arg: None for k in node.keywords if k.arg is not None}
        # transformers configs take settable properties (num_labels) that their signatures do not list
        settable = [k for k in keywords if inspect.isclass(target) and k not in signature.parameters
                    and isinstance(prop := inspect.getattr_static(target, k, None), property) and prop.fset is not None]
        try:
            signature.bind_partial(*args, **{k: v for k, v in keywords.items() if k not in settable})
        except TypeError as error:
            self.report.problems.append(f"line {node.lineno}: {name}{_short(signature)}: {error}")
            return
        _check_values(node, target, self.report)
        named = {p.name for p in signature.parameters.values() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        extra = [k for k in keywords if k not in named and k not in settable]
        unnamed = [k for k in extra if not re.search(rf"\b{re.escape(k)}\b", _documentation(target))]
        if unnamed:
            self.report.problems.append(f"line {node.lineno}: {name}: {', '.join(unnamed)} would go to **kwargs "
                                        "and no documentation of it names them")
        elif extra:
            self.report.documented.append(name)
        elif settable:
            self.report.documented.append(name)
        else:
            self.report.bound.append(name)


def _documentation(target: Any) -> str:
    texts = [inspect.getdoc(target) or ""]
    if inspect.isclass(target):
        texts.append(inspect.getdoc(target.__init__) or "")
    for path in DOCUMENTED_BY.get(getattr(target, "__qualname__", ""), ()):
        module, _, name = path.partition(".")
        owner: Any = _import(module)
        for part in name.split("."):
            owner = getattr(owner, part)
        texts.append(inspect.getdoc(owner) or "")
    return "\n".join(texts)


def _name(target: Any) -> str:
    return f"{getattr(target, '__module__', '?').split('.')[0]}.{getattr(target, '__qualname__', repr(target))}"


def _short(signature: inspect.Signature) -> str:
    text = str(signature)
    return text if len(text) < 160 else text[:157] + "...)"


def _check_values(node: ast.Call, target: Any, report: Report) -> None:
    """Checks of argument values the signature cannot make: pipeline task names."""
    if getattr(target, "__module__", "").startswith("transformers.pipelines") and target.__name__ == "pipeline":
        task = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "task"), None)
        if isinstance(task, ast.Constant) and isinstance(task.value, str):
            from transformers.pipelines import get_supported_tasks

            if task.value not in get_supported_tasks():
                report.problems.append(f"line {node.lineno}: pipeline task {task.value!r} does not exist in "
                                       f"transformers {_import('transformers').__version__}")


def check_python(code: str) -> Report:
    """Resolve and bind every call of a Python snippet (never runs it)."""
    checker = _Checker()
    try:
        tree = ast.parse(code)
    except SyntaxError as error:
        checker.report.problems.append(f"syntax: {error}")
        return checker.report
    for statement in tree.body:
        checker.visit(statement)
    return checker.report


# ---- shell snippets -----------------------------------------------------------------------------

def _tool(name: str) -> str:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name


@cache
def _help(command: tuple[str, ...]) -> tuple[int, str]:
    try:
        done = subprocess.run([_tool(command[0]), *command[1:], "--help"], capture_output=True, text=True,
                              timeout=600, env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})
    except FileNotFoundError:
        return 127, ""
    except subprocess.TimeoutExpired:
        return 124, "timed out"
    return done.returncode, done.stdout + done.stderr


def _lists(help_text: str, word: str) -> bool:
    return bool(re.search(rf"^\s+{re.escape(word)}\b|\[alias: {re.escape(word)}\]", help_text, re.M) or re.search(rf"[{{,]{re.escape(word)}[,}}]", help_text))


@cache
def _known_variables() -> str:
    texts = []
    for module in ("huggingface_hub.constants", "huggingface_hub.utils._auth", "transformers.utils.hub", "transformers.utils.import_utils", "datasets.config"):
        try:
            texts.append(inspect.getsource(_import(module)))
        except ImportError:
            pass
    return "\n".join(texts)


def check_shell(code: str) -> list[str]:
    """Problems of a shell snippet's command lines; [] when every command and flag is in its --help."""
    problems = []
    for line in code.replace("\\\n", " ").splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line)
        if words[0] == "export":
            for assignment in words[1:]:
                variable = assignment.split("=")[0]
                if variable.startswith(("HF_", "TRANSFORMERS_")) and not re.search(rf"[\"']{variable}[\"']", _known_variables()):
                    problems.append(f"{variable}: not a variable huggingface_hub, transformers or datasets reads")
            continue
        if words[0] not in CLIS:
            if words[0] in ("huggingface-cli", "transformers-cli") or "-cli" in words[0]:
                problems.append(f"{words[0]}: no such command in the installed libraries")
            continue
        command = [words[0]]
        status, text = _help(tuple(command))
        rest = words[1:]
        while rest and not rest[0].startswith("-") and _lists(text, rest[0]):
            command.append(rest.pop(0))
            status, text = _help(tuple(command))
        if status != 0:
            problems.append(f"`{' '.join(command)} --help` exited {status}")
            continue
        group = re.search(r"^(Main commands|Commands):|^\s+\{[\w,-]+\}\s*$", text, re.M)  # it lists subcommands
        if rest and not rest[0].startswith("-") and group:
            problems.append(f"`{' '.join(command)}` has no subcommand {rest[0]!r}")
        for flag in (w.split("=")[0] for w in rest if w.startswith("-")):
            if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text):
                problems.append(f"`{' '.join(command)}` has no flag {flag}")
    return problems


# ---- running ------------------------------------------------------------------------------------

RUNNER = r"""
import json, sys, time, traceback, warnings
snippets = json.load(open(sys.argv[1]))
namespace = {"__name__": "__cheatsheet__"}
results = []
for snippet in snippets:
    started = time.perf_counter()
    try:
        exec(compile(snippet["code"], snippet["where"], "exec"), namespace)
        results.append({"ok": True})
    except BaseException:
        results.append({"ok": False, "error": traceback.format_exc(limit=-4)[-2000:]})
    results[-1]["seconds"] = round(time.perf_counter() - started, 2)
    json.dump(results, open(sys.argv[2], "w"))
"""


def run_page(snippets: list[Snippet], timeout: float = 300) -> dict[str, str]:
    """Execute a page's ``run`` snippets in order in one fresh, offline process; {where: error}."""
    from fieldguide import kit

    with tempfile.TemporaryDirectory(prefix="cheatsheet-") as folder:
        work = Path(folder)
        (work / "in.json").write_text(json.dumps([{"where": s.where, "code": s.code} for s in snippets]))
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_CACHE": str(kit.hub_cache()),
               "GRADIO_ANALYTICS_ENABLED": "False", "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false",
               "PYTHONPATH": os.pathsep.join([str(CHECKOUT_DATA.parent), os.environ.get("PYTHONPATH", "")])}
        try:
            subprocess.run([sys.executable, "-c", RUNNER, "in.json", "out.json"], cwd=work, env=env, timeout=timeout,
                           capture_output=True, text=True)
        except subprocess.TimeoutExpired:
            pass
        results = json.loads((work / "out.json").read_text()) if (work / "out.json").exists() else []
    errors = {s.where: r["error"] for s, r in zip(snippets, results) if not r["ok"]}
    errors.update({s.where: "did not run (the process ended or timed out first)" for s in snippets[len(results):]})
    return errors


def run_all(snippets: list[Snippet], workers: int = 2) -> dict[str, str]:
    by_page: dict[str, list[Snippet]] = {}
    for s in snippets:
        if s.kind == "run":
            by_page.setdefault(s.page, []).append(s)
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(run_page, by_page.values()))
    return {where: error for result in results for where, error in result.items()}


def check_all(snippets: list[Snippet]) -> tuple[dict[str, list[str]], dict[str, Report]]:
    """The static checks: ({where: problems}, {where: report of each Python snippet})."""
    problems: dict[str, list[str]] = {}
    reports: dict[str, Report] = {}
    shell = [s for s in snippets if s.kind == "shell"]
    with ThreadPoolExecutor(4) as pool:  # each --help starts a Python process; most of the time is imports
        shell_problems = dict(zip((s.where for s in shell), pool.map(lambda s: check_shell(s.code), shell)))
    for s in snippets:
        if s.kind in ("run", "check") and s.language == "python":
            reports[s.where] = report = check_python(s.code)
            found = report.problems
        elif s.kind == "shell":
            found = shell_problems[s.where]
        else:
            found = []
        if found:
            problems[s.where] = found
    return problems, reports


def counts(snippets: list[Snippet], reports: dict[str, Report]) -> dict[str, Any]:
    """What the closing note states: snippets per kind, calls per level, and every unchecked entry."""
    return {
        "executed": sum(s.kind == "run" for s in snippets),
        "signature_checked": sum(s.kind == "check" for s in snippets),
        "help_checked": sum(s.kind == "shell" for s in snippets),
        "neither": [{"where": s.where, "why": s.code.strip().splitlines()[0].lstrip("# ")}
                    for s in snippets if s.kind == "neither"],
        "calls_bound": sum(len(r.bound) for r in reports.values()),
        "calls_documented": sum(len(r.documented) for r in reports.values()),
        "calls_target_only": sorted({c for r in reports.values() for c in r.target_only}),
    }


def versions() -> dict[str, str]:
    from importlib import metadata

    return {name: metadata.version(name) for name in LIBRARIES}


def record(summary: dict[str, Any], path: Path = RECORD) -> None:
    import datetime

    path.write_text(json.dumps({"checked": datetime.date.today().isoformat(), "versions": versions(), **summary},
                               indent=2, sort_keys=True) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fieldguide.snippets", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record", action="store_true", help=f"when all pass, write {RECORD.name} and the page")
    parser.add_argument("--no-run", action="store_true", help="static and --help checks only")
    args = parser.parse_args(argv)
    snippets = all_snippets()
    problems, reports = check_all(snippets)
    errors = {} if args.no_run else run_all(snippets)
    for where, found in problems.items():
        print(f"{where}: " + "; ".join(found))
    for where, error in errors.items():
        print(f"{where}: failed when run:\n{error}")
    summary = counts(snippets, reports)
    print(json.dumps(summary, indent=1))
    if args.record and not problems and not errors and not args.no_run:
        from fieldguide import pages

        record(summary)
        pages.write()
        print(f"recorded {RECORD}")
    return 1 if problems or errors else 0


if __name__ == "__main__":
    sys.exit(main())
