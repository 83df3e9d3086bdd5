"""Where the course's data files are, in a checkout and in an installed package alike."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

CHECKOUT_DATA = Path(__file__).resolve().parent.parent / "data"
CHECKOUT_APP = Path(__file__).resolve().parent.parent / "apps" / "model-finder"


def data_path(name: str) -> Path:
    """The path of ``data/NAME``: the checkout's folder, or the installed ``fieldguide.data``."""
    if (CHECKOUT_DATA / "course-models.yaml").is_file():
        return CHECKOUT_DATA / name
    return Path(str(resources.files("fieldguide.data").joinpath(name)))


def app_path(name: str = "") -> Path:
    """The path of ``apps/model-finder/NAME``: the checkout's folder, or the installed ``fieldguide.app``."""
    if (CHECKOUT_APP / "app.py").is_file():
        return CHECKOUT_APP / name
    return Path(str(resources.files("fieldguide.app").joinpath(name)))


@cache
def load_yaml(name: str) -> Any:
    """Parse ``data/NAME`` once per process."""
    with data_path(name).open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)
