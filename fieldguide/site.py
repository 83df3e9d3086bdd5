"""The book site's Sphinx extension (``sphinx.extra_extensions`` in ``_config.yml``).

- **Offline maths:** MathJax 3 is served from the build (from the ``django-static-mathjax``
  wheel, Apache-2.0) instead of a CDN, so formulas render in a lab with no web access.
- **Accessible tables:** scrollable tables take keyboard focus; pandas' empty corner cell is named.
- **One copy of each script:** sphinx-thebe registers its inline settings twice under JB1,
  which made every page log "Identifier 'THEBE_JS_URL' has already been declared".
- **A cost and "tested with" badge** under each chapter's title, from ``data/measurements.json``
  (written by ``scripts/notebooks.py test --record``), the course-model registry and the pins.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path
from typing import Any

MATHJAX_SKIP = ("sre", "tex-chtml-full", "tex-chtml-full-speech", "tex-svg", "tex-svg-full", "tex-mml-svg", "mml-svg")
BADGE_LIBRARIES = ("torch", "transformers", "sentence-transformers", "diffusers")


def _mathjax_source() -> Path | None:
    try:
        import mathjax  # the django-static-mathjax wheel; no Django needed to read its files
    except ImportError:
        return None
    folder = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    return folder if (folder / "tex-chtml.js").is_file() else None


def _copy_mathjax(app: Any, exception: Exception | None) -> None:
    source = _mathjax_source()
    if exception is not None or source is None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "mathjax"
    if not (target / "tex-chtml.js").is_file():
        ignore = shutil.ignore_patterns(*MATHJAX_SKIP, *(name + ".js" for name in MATHJAX_SKIP))
        shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)


def _use_local_mathjax(app: Any, config: Any) -> None:
    if _mathjax_source() is not None:
        config.mathjax_path = "mathjax/tex-chtml.js"


def _accessible_tables(body: str) -> str:
    """Scrollable tables reachable by keyboard; pandas' empty corner header cell given a name."""
    body = body.replace('<table border="1" class="dataframe">', '<table border="1" class="dataframe" tabindex="0">')
    body = re.sub(r'<table class="table"(?![^>]*tabindex)', '<table class="table" tabindex="0"', body)
    return body.replace("<th></th>", '<th><span class="visually-hidden">row</span></th>')


def _page_context(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    if "body" in context:
        context["body"] = _accessible_tables(context["body"])
    _one_copy_of_each_script(context)


def _one_copy_of_each_script(context: dict) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        # The same file or inline body twice: sphinx-thebe and sphinx-togglebutton register their
        # inline settings at setup and again per build, once with filename None and once with "".
        key = (str(getattr(script, "filename", script) or ""), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    scripts[:] = kept


def badge_html(notebook: str) -> str | None:
    """The badge for ``notebooks/NN-name`` (None when it was never measured)."""
    from fieldguide import kit
    from fieldguide.resources import data_path, load_yaml

    import json

    path = data_path("measurements.json")
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    measured = record.get("notebooks", {}).get(Path(notebook).name + ".ipynb")
    if not measured:
        return None
    chapter = next((c for c in load_yaml("chapters.yaml") if c["notebook"] == notebook), {})
    registry = kit.load_registry()
    models = [registry[m] for m in chapter.get("stand_ins", []) if m in registry]
    download = sum(m.size_mb for m in models)
    versions = " · ".join(f"{name} {record['versions'][name]}" for name in BADGE_LIBRARIES if name in record.get("versions", {}))
    parts = [
        f"<span><strong>{measured['seconds']:.0f} s</strong> on {record.get('cores', 2)} CPU cores</span>",
        f"<span><strong>{measured['peak_mb'] / 1024:.2f} GB</strong> peak memory</span>",
        f"<span>models: <strong>{download} MB</strong> download</span>" if models else "<span>no model download</span>",
        "<span><strong>no GPU</strong> needed</span>",
    ]
    tested = f"Tested with {html.escape(versions)}; last passed {html.escape(measured.get('date', 'unknown'))}."
    return ('<div class="fg-badge" role="note" aria-label="What this chapter costs to run">'
            + "".join(parts) + f'<div class="fg-tested">{tested}</div></div>')


def _insert_badge(app: Any, doctree: Any, docname: str) -> None:
    if not docname.startswith("notebooks/"):
        return
    from docutils import nodes

    badge = badge_html(docname)
    section = next(iter(doctree.findall(nodes.section)), None)
    if badge is None or section is None or not section.children:
        return
    section.insert(1, nodes.raw("", badge, format="html"))


def setup(app: Any) -> dict[str, Any]:
    """Register the extension's hooks."""
    app.connect("config-inited", _use_local_mathjax)
    app.connect("html-page-context", _page_context)
    app.connect("doctree-resolved", _insert_badge)
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
