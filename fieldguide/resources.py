"""Where the course's data files are, in a checkout and in an installed package alike."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

CHECKOUT_DATA = Path(__file__).resolve().parent.parent / "data"
CHECKOUT_APP = Path(__file__).resolve().parent.parent / "apps" / "model-finder"


def _located(checkout: Path, marker: str, package: str, name: str) -> Path:
    """``checkout/NAME`` when ``checkout/MARKER`` exists (a checkout), else NAME in the installed ``package``."""
    if (checkout / marker).is_file():
        return checkout / name
    return Path(str(resources.files(package).joinpath(name)))


def data_path(name: str) -> Path:
    """The path of ``data/NAME``: the checkout's folder, or the installed ``fieldguide.data``."""
    return _located(CHECKOUT_DATA, "course-models.yaml", "fieldguide.data", name)


def app_path(name: str = "") -> Path:
    """The path of ``apps/model-finder/NAME``: the checkout's folder, or the installed ``fieldguide.app``."""
    return _located(CHECKOUT_APP, "app.py", "fieldguide.app", name)


@cache
def load_yaml(name: str) -> Any:
    """Parse ``data/NAME`` once per process."""
    with data_path(name).open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)
