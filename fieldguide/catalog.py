"""The catalog: the Hub's most-used models, its notable Spaces and its task tags, as validated data.

``load()`` reads and validates ``data/models.yaml`` against the course's other tables (domains,
chapters, tasks, licences, course models); a bad file fails with a message naming the entry and
the field. ``models()`` gives a pandas DataFrame with derived columns (parameter count as a
number, weight memory, licence class); ``suggest()`` and ``siblings()`` answer learners' questions.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from fieldguide.errors import FieldGuideError
from fieldguide.resources import data_path, load_yaml

FIELDS = (
    "id", "former_ids", "organization", "domain", "pipeline_tag", "modality", "parameters", "licence",
    "licence_note", "gated", "release_year", "library", "why", "chapter", "stand_in", "note", "source", "checked",
    "checked_by", "selection", "selected", "loader",
)
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
PARAMETERS = re.compile(r"^(\d+(?:\.\d+)?)([KMB])$")
SCALE = {"K": 1e3, "M": 1e6, "B": 1e9}
UNKNOWN = "unknown"
NONE = "none"
SPACE_SDKS = ("gradio", "streamlit", "docker", "static", UNKNOWN)
CHECKED_BY = ("primary card", "copy", "computed")
SELECTION = {
    "use": "widely used: the most-downloaded kinds of model (small encoders, embedders, ASR, classifiers)",
    "influence": "historically influential or the reference model of its family",
    "coverage": "chosen to cover a task family a chapter teaches or names",
    "review": "added after the issue-11 review named it among the Hub's most-downloaded models",
    "course": "the course runs it offline (or its exact weights)",
}
CALLED = ("SentenceTransformer", "CrossEncoder")
REMOTE_CODE = "needs its repository's own code (trust_remote_code), which the course never runs"


class CatalogError(FieldGuideError):
    """A catalog file breaks a rule; the message names the entry and the field."""


def parameter_count(text: str) -> float | None:
    """``"1.5B"`` -> 1.5e9; ``"unknown"`` -> None."""
    match = PARAMETERS.match(text)
    return float(match[1]) * SCALE[match[2]] if match else None


def licence_class(licence: str, note: str = "") -> str:
    """permissive, copyleft, restricted, non-commercial or unknown (``other`` is read from its note)."""
    if licence == "other" and "non-commercial" in note.lower():
        return "non-commercial"
    return load_yaml("licences.yaml")[licence]["class"]


def _known(name: str, key: str) -> set[str]:
    return {row[key] for row in load_yaml(name)}


def _check_entry(entry: dict[str, Any], tasks: dict[str, dict], course_models: set[str]) -> list[str]:
    """The problems of one model entry, as 'field: what is wrong' strings."""
    problems = []
    missing = [name for name in FIELDS if name not in entry]
    extra = [name for name in entry if name not in FIELDS]
    problems += [f"{name}: missing" for name in missing] + [f"{name}: not a catalog field" for name in extra]
    if missing:
        return problems
    if not HUB_ID.match(entry["id"]):
        problems.append(f"id: {entry['id']!r} is not ORG/NAME")
    if not all(isinstance(old, str) and old != entry["id"] for old in entry["former_ids"] or []):
        problems.append("former_ids: must be a list of other ids")
    if entry["domain"] not in _known("domains.yaml", "id"):
        problems.append(f"domain: {entry['domain']!r} is not one of {sorted(_known('domains.yaml', 'id'))}")
    tag = entry["pipeline_tag"]
    if tag != UNKNOWN and tag not in tasks:
        problems.append(f"pipeline_tag: {tag!r} is not a Hub task tag (data/tasks.yaml)")
    elif tag != UNKNOWN and tasks[tag]["modality"] != entry["modality"]:
        problems.append(f"modality: the Hub groups {tag} under {tasks[tag]['modality']}, not {entry['modality']}")
    if entry["parameters"] != UNKNOWN and parameter_count(str(entry["parameters"])) is None:
        problems.append(f"parameters: {entry['parameters']!r} is not like 22.7M, 8B or 'unknown'")
    if entry["licence"] not in load_yaml("licences.yaml"):
        problems.append(f"licence: {entry['licence']!r} is not in data/licences.yaml")
    if entry["licence"] == "other" and not entry["licence_note"]:
        problems.append("licence_note: an 'other' licence needs a note naming it")
    if entry["gated"] not in (True, False, UNKNOWN):
        problems.append("gated: must be true, false or 'unknown'")
    if entry["release_year"] != UNKNOWN and not (2015 <= int(entry["release_year"]) <= dt.date.today().year):
        problems.append(f"release_year: {entry['release_year']!r} is out of range")
    chapters = known_chapters()
    if entry["chapter"] not in chapters and entry["chapter"] != NONE:
        problems.append(f"chapter: {entry['chapter']!r} is not a course chapter (data/chapters.yaml) or a domain's planned one")
    if entry["stand_in"] == NONE:
        if chapters.get(entry["chapter"]):
            problems.append(f"stand_in: none, but chapter {entry['chapter']!r} has stand-ins")
    elif entry["stand_in"] not in course_models:
        problems.append(f"stand_in: {entry['stand_in']!r} is not a course model or a chapter's stand-in")
    checked_by = entry["checked_by"] if isinstance(entry["checked_by"], list) else [entry["checked_by"]]
    if not checked_by or any(way not in CHECKED_BY for way in checked_by):
        problems.append(f"checked_by: {entry['checked_by']!r} is not a list of {CHECKED_BY}")
    if entry["selection"] not in SELECTION:
        problems.append(f"selection: {entry['selection']!r} is not one of {sorted(SELECTION)}")
    try:
        dt.date.fromisoformat(str(entry["selected"]))
    except ValueError:
        problems.append(f"selected: {entry['selected']!r} is not a YYYY-MM-DD date")
    loader = entry["loader"]
    if loader is not None and not (isinstance(loader, dict) and set(loader) <= {"class", "id"} and "class" in loader
                                   or loader == {"remote_code": True}):
        problems.append("loader: null, {class: NAME[, id: ORG/NAME]} or {remote_code: true}")
    if not str(entry["source"]).startswith("https://"):
        problems.append("source: must be an https URL")
    try:
        dt.date.fromisoformat(str(entry["checked"]))
    except ValueError:
        problems.append(f"checked: {entry['checked']!r} is not a YYYY-MM-DD date")
    if not entry["why"] or len(entry["why"]) > 160:
        problems.append("why: one line of at most 160 characters")
    return problems


def known_chapters() -> dict[str, list[str]]:
    """Chapter slug -> its stand-ins: the course's chapters, plus chapters a domain plans (no stand-ins yet)."""
    chapters = {row["slug"]: list(row["stand_ins"]) for row in load_yaml("chapters.yaml")}
    for domain in load_yaml("domains.yaml"):
        if domain["chapter"] != NONE:
            chapters.setdefault(domain["chapter"], [])
    return chapters


def validate(entries: list[dict[str, Any]]) -> None:
    """Raise CatalogError listing every broken entry and field; return quietly when all is well."""
    tasks = {row["tag"]: row for row in load_yaml("tasks.yaml")}
    stand_ins = {model for chapter in load_yaml("chapters.yaml") for model in chapter["stand_ins"]}
    problems, seen = [], {}
    for number, entry in enumerate(entries, start=1):
        name = entry.get("id", f"entry {number}") if isinstance(entry, dict) else f"entry {number}"
        if not isinstance(entry, dict):
            problems.append(f"{name}: not a mapping")
            continue
        for old in [entry.get("id"), *(entry.get("former_ids") or [])]:
            if old in seen:
                problems.append(f"{name}: id: {old!r} is also used by entry {seen[old]}")
            seen[old] = number
        problems += [f"{name}: {problem}" for problem in _check_entry(entry, tasks, stand_ins)]
    if problems:
        raise CatalogError("The catalog has problems:\n  " + "\n  ".join(problems))


def load(path: Path | None = None) -> list[dict[str, Any]]:
    """The validated catalog entries, in editorial order."""
    path = path or data_path("models.yaml")
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(entries, list):
        raise CatalogError(f"{path.name}: expected a list of models")
    validate(entries)
    return entries


def models(path: Path | None = None) -> pd.DataFrame:
    """The catalog as a DataFrame, with rank, parameter count, weight memory and licence class.

    The file is read and validated once per process and path; each call gets its own copy.
    """
    return _models_frame(path).copy()


@cache
def _models_frame(path: Path | None) -> pd.DataFrame:
    frame = pd.DataFrame(load(path))
    frame.insert(0, "rank", range(1, len(frame) + 1))
    frame["params"] = frame["parameters"].astype(str).map(parameter_count)
    frame["fp16_gb"] = (frame["params"] * 2 / 1e9).round(2)
    frame["fp32_gb"] = (frame["params"] * 4 / 1e9).round(2)
    frame["licence_class"] = [licence_class(l, n) for l, n in zip(frame["licence"], frame["licence_note"])]
    return frame


def suggest(
    task: str | None = None,
    max_params: float | str | None = None,
    licence: str | None = None,
    ungated: bool = False,
) -> pd.DataFrame:
    """Catalog models for a need: a Hub task tag, a size cap ("1B" or 1e9), a licence id or class.

    Models of unknown size are left out when a size cap is given. Results keep catalog order.
    """
    frame = models()
    if task is not None:
        if task not in {row["tag"] for row in load_yaml("tasks.yaml")}:
            raise FieldGuideError(f"{task!r} is not a Hub task tag; see data/tasks.yaml for the list.")
        frame = frame[frame["pipeline_tag"] == task]
    if max_params is not None:
        cap = parameter_count(max_params) if isinstance(max_params, str) else float(max_params)
        if cap is None:
            raise FieldGuideError(f"max_params {max_params!r} is not like '500M' or 1e9.")
        frame = frame[frame["params"].notna() & (frame["params"] <= cap)]
    if licence is not None:
        frame = frame[(frame["licence"] == licence) | (frame["licence_class"] == licence)]
    if ungated:
        frame = frame[frame["gated"] == False]  # noqa: E712 -- "unknown" must not count as ungated
    return frame[["rank", "id", "pipeline_tag", "parameters", "licence", "gated", "why"]].reset_index(drop=True)


def load_snippet(entry: dict[str, Any]) -> str:
    """The one line that loads a catalog model online, in the library its card names (data/loaders.yaml).

    An entry's ``loader`` names the class (and, where the weights live in another repository, such
    as a diffusers-format copy, that repository) when the library's default would be wrong;
    ``{remote_code: true}`` marks a model that runs only with its repository's own code.
    """
    loaders = load_yaml("loaders.yaml")
    model_id, tag, library = entry["id"], entry["pipeline_tag"], entry["library"]
    if entry.get("loader") == {"remote_code": True}:
        return REMOTE_CODE
    if entry.get("loader"):
        name, repo = entry["loader"]["class"], entry["loader"].get("id", model_id)
        return f'{name}("{repo}")' if name in CALLED else f'{name}.from_pretrained("{repo}")'
    if library in ("sentence-transformers", "diffusers", "timm"):
        return loaders[library].format(id=model_id)
    if library != "transformers":
        return loaders["other"].format(library=library)
    recipes = loaders["transformers"]
    if tag in recipes["pipeline_tasks"]:
        return recipes["pipeline"].format(tag=tag, id=model_id)
    if tag in recipes["auto_classes"]:
        return recipes["auto"].format(auto_class=recipes["auto_classes"][tag], id=model_id)
    return recipes["fallback"].format(id=model_id)


def siblings(chapter: str) -> pd.DataFrame:
    """The catalog's models a chapter stands in for, with the line that runs each online."""
    frame = models()
    frame = frame[frame["chapter"] == chapter]
    if frame.empty:
        raise FieldGuideError(f"No catalog models point at chapter {chapter!r}; chapters: {sorted(known_chapters())}.")
    return pd.DataFrame({
        "model": frame["id"],
        "task": frame["pipeline_tag"],
        "parameters": frame["parameters"],
        "fp16 weights (GB)": frame["fp16_gb"],
        "licence": frame["licence"] + frame["gated"].map({True: " (gated)", False: "", UNKNOWN: " (gated?)"}),
        "run it online": [load_snippet(row) for row in frame.to_dict("records")],
    }).reset_index(drop=True)


def spaces() -> list[dict[str, Any]]:
    """The notable Spaces, validated: ids, SDKs, sources."""
    entries = load_yaml("spaces.yaml")
    problems = [
        f"{space.get('id')}: {field}"
        for space in entries
        for field, ok in (
            ("id: not OWNER/NAME", HUB_ID.match(str(space.get("id", "")))),
            (f"sdk: not one of {SPACE_SDKS}", space.get("sdk") in SPACE_SDKS),
            ("source: must be an https URL", str(space.get("source", "")).startswith("https://")),
            ("shows/why: missing", space.get("shows") and space.get("why")),
        )
        if not ok
    ]
    if problems:
        raise CatalogError("spaces.yaml has problems:\n  " + "\n  ".join(problems))
    return entries


def tasks() -> pd.DataFrame:
    """The Hub's task tags with their modality and the chapter that covers each."""
    return pd.DataFrame(load_yaml("tasks.yaml"))
