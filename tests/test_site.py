"""The built book in a real browser, as readers use it: phones, menus, search, solutions, launch links.

Drives Debian's Chromium (``apt-get install chromium``) with Playwright for Python; never
``playwright install``, which downloads a browser. Serves ``_build/html`` on 127.0.0.1 only.
Skipped, with the reason, when there is no built book or no Chromium, unless
``FIELDGUIDE_REQUIRE_BROWSER=1`` (set by CI) makes that a failure.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import threading
from pathlib import Path
from typing import Iterator

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("FIELDGUIDE_CHROMIUM", "/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
# Chromium's own background traffic is refused on a closed network; these flags keep it quiet.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-default-apps"]
AXE = ROOT / ".venv" / "npm" / "node_modules" / "axe-core" / "axe.min.js"  # scripts/setup.sh installs it
# axe-core rules the site must pass on every page (the rest are reported, see report_axe below).
AXE_REQUIRED = ("image-alt", "label-content-name-mismatch", "empty-table-header", "button-name", "link-name",
                "duplicate-id-aria", "html-has-lang", "document-title")


def _unavailable() -> str | None:
    if not (HTML / "index.html").is_file():
        return "no built book: run `jupyter-book build . --all` (scripts/setup.sh does)"
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM}: `apt-get install chromium` to enable the browser test"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed: `pip install -r requirements.txt`"
    return None


if (reason := _unavailable()) is not None:
    if os.environ.get("FIELDGUIDE_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"the browser test is required here, but {reason}")
    pytest.skip(reason, allow_module_level=True)


def pages() -> list[str]:
    """Every page in the table of contents, as its path under _build/html."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [f"{name}.html" for name in files]


def notebook_pages() -> list[str]:
    return [page for page in pages() if page.startswith("notebooks/")]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(HTML)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Visit:
    """One page opened in a fresh tab, with what went wrong while it loaded."""

    def __init__(self, browser: object, url: str, viewport: dict[str, int]) -> None:
        self.page = browser.new_page(viewport=viewport)
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url}") if "127.0.0.1" in r.url else None)
        self.page.on("response", lambda r: self.errors.append(f"{r.status}: {r.url}") if r.status >= 400 else None)
        self.page.goto(url, wait_until="load")
        self.page.wait_for_timeout(300)

    def width(self) -> int:
        return int(self.page.evaluate("document.documentElement.scrollWidth"))

    def close(self) -> None:
        self.page.close()


AXE_COUNTS: dict[str, int] = {}
AXE_PAGES: set[str] = set()


def _launch_links_point_at(visit: Visit, page: str) -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]["url"].removeprefix("https://github.com/")
    links = visit.page.evaluate("Array.from(document.querySelectorAll('a')).map(a => a.href)")
    notebook = page.removesuffix(".html") + ".ipynb"
    assert f"https://colab.research.google.com/github/{repo}/blob/main/{notebook}" in links, page
    assert any(link.startswith(f"https://mybinder.org/v2/gh/{repo}/main?") and notebook in link for link in links), page


@pytest.mark.parametrize("page", pages())
def test_page_fits_a_phone_with_no_console_errors(browser, base_url, page):
    """Each page once, at 390 px: no errors, no overflow, real alt text, launch links, axe-core."""
    visit = Visit(browser, f"{base_url}/{page}", PHONE)
    try:
        SHOTS.mkdir(parents=True, exist_ok=True)
        visit.page.screenshot(path=str(SHOTS / (page.replace("/", "_").replace(".html", "") + "-390.png")))
        assert visit.errors == [], f"{page}: {visit.errors}"
        assert visit.width() <= PHONE["width"], f"{page} is {visit.width()} px wide on a {PHONE['width']} px phone"
        missing_alt = visit.page.evaluate("""Array.from(document.querySelectorAll('article img'))
            .map(i => i.getAttribute('alt') || '').filter(a => !a.trim() || /\\.(png|jpe?g|gif|svg)$/i.test(a.trim()))""")
        assert missing_alt == [], f"{page}: figures without real alt text: {missing_alt[:3]}"
        if page.startswith("notebooks/"):
            _launch_links_point_at(visit, page)
        if AXE.is_file():
            visit.page.add_script_tag(path=str(AXE))
            violations = visit.page.evaluate("axe.run(document).then(r => r.violations.map(v => [v.id, v.nodes.length]))")
            for rule, nodes in violations:
                AXE_COUNTS[rule] = AXE_COUNTS.get(rule, 0) + nodes
            AXE_PAGES.add(page)
            required = {rule: n for rule, n in violations if rule in AXE_REQUIRED}
            assert required == {}, f"{page}: accessibility violations {required}"
    finally:
        visit.close()


def _sidebar_left(visit: Visit, selector: str) -> float:
    return float(visit.page.evaluate(f"document.querySelector('{selector}').getBoundingClientRect().left"))


def test_phone_menu_and_contents_open_on_tap(browser, base_url):
    visit = Visit(browser, f"{base_url}/{notebook_pages()[3]}", PHONE)
    try:
        assert _sidebar_left(visit, "#pst-primary-sidebar") < 0, "the menu starts closed on a phone"
        visit.page.locator(".bd-header-article button.primary-toggle").click()
        visit.page.wait_for_timeout(400)
        assert visit.page.locator("#pst-primary-sidebar-modal[open]").count() == 1, "tapping the menu opens it"
        assert visit.page.locator("#pst-primary-sidebar-modal a.reference").first.is_visible()
        visit.page.keyboard.press("Escape")
        visit.page.wait_for_timeout(300)
        visit.page.locator(".bd-header-article button.secondary-toggle").click()
        visit.page.wait_for_timeout(400)
        assert visit.page.locator("#pst-secondary-sidebar-modal[open]").count() == 1, "tapping contents opens them"
        assert visit.errors == []
    finally:
        visit.close()


def test_desktop_menu_button_collapses_the_sidebar(browser, base_url):
    visit = Visit(browser, f"{base_url}/{notebook_pages()[3]}", DESKTOP)
    try:
        assert _sidebar_left(visit, "#pst-primary-sidebar") >= 0
        visit.page.locator(".bd-header-article button.primary-toggle").click()
        visit.page.wait_for_timeout(400)
        assert visit.page.locator("#pst-primary-sidebar.pst-sidebar-hidden").count() == 1
    finally:
        visit.close()


def test_search_finds_whisper(browser, base_url):
    visit = Visit(browser, f"{base_url}/search.html?q=whisper", PHONE)
    try:
        visit.page.wait_for_selector("#search-results li", timeout=15000)
        hits = visit.page.locator("#search-results li").count()
        assert hits >= 2, f"search for whisper found {hits} pages"
    finally:
        visit.close()


def test_a_solution_stays_hidden_until_clicked_and_hides_again(browser, base_url):
    with_solutions = [p for p in notebook_pages() if "tag_hide-cell" in (HTML / p).read_text(encoding="utf-8")]
    assert len(with_solutions) == len(notebook_pages()), "every chapter has hidden solutions"
    visit = Visit(browser, f"{base_url}/{with_solutions[0]}", DESKTOP)
    try:
        solution = visit.page.locator(".cell.tag_hide-cell").first
        body = solution.locator(".cell_input, .cell_output").first
        assert not body.is_visible(), "a solution's code and output start hidden"
        solution.locator("summary, button.toggle-button").first.click()
        visit.page.wait_for_timeout(300)
        assert body.is_visible(), "clicking shows the solution"
        solution.locator("summary, button.toggle-button").first.click()
        visit.page.wait_for_timeout(300)
        assert not body.is_visible(), "clicking again hides it"
    finally:
        visit.close()


def test_maths_renders_offline(browser, base_url):
    page = next(p for p in notebook_pages() if "07-" in p)
    visit = Visit(browser, f"{base_url}/{page}", DESKTOP)
    try:
        visit.page.wait_for_selector("mjx-container", timeout=15000)
        assert visit.errors == []
    finally:
        visit.close()


def test_catalog_filters_search_and_sort_on_a_phone(browser, base_url):
    visit = Visit(browser, f"{base_url}/book/catalog/top-100.html", PHONE)
    try:
        rows = visit.page.locator(".fg-explorer[data-kind=models] .fg-row")
        visible = lambda: rows.evaluate_all("rs => rs.filter(r => !r.hidden).length")  # noqa: E731
        total = rows.count()
        assert total >= 100 and visible() == total
        visit.page.select_option(".fg-explorer select[name=domain]", "audio")
        audio = visible()
        assert 0 < audio < total, "the domain filter narrows the table"
        visit.page.fill(".fg-explorer input[name=q]", "whisper")
        assert 0 < visible() < audio, "search narrows it further"
        assert "whisper" in rows.evaluate_all("rs => rs.filter(r => !r.hidden).map(r => r.dataset.name).join(' ')")
        visit.page.fill(".fg-explorer input[name=q]", "")
        visit.page.select_option(".fg-explorer select[name=domain]", "")
        visit.page.select_option(".fg-explorer select[name=fits]", "Binder")
        assert 0 < visible() < total, "the hardware filter keeps only models that fit"
        visit.page.select_option(".fg-explorer select[name=sort]", "params")
        sizes = rows.evaluate_all("rs => rs.filter(r => !r.hidden).map(r => Number(r.dataset.params))")
        assert sizes == sorted(sizes), "smallest first"
        first = visit.page.locator(".fg-explorer .fg-row:not([hidden]) summary").first
        first.click()
        assert visit.page.locator(".fg-explorer .fg-row[open] .fg-facts").first.is_visible(), "a tap opens the details"
        assert visit.width() <= PHONE["width"] and visit.errors == []
    finally:
        visit.close()


def test_axe_core_counts_are_written():
    """The per-page axe-core results, summed, for the closing note: _build/axe.json."""
    if not AXE.is_file():
        pytest.skip("axe-core not installed: `npm install --prefix .venv/npm axe-core@4.14.1` runs the accessibility check")
    if AXE_PAGES != set(pages()):
        pytest.skip("axe-core totals need every page's test in the same run")
    assert not {rule for rule in AXE_COUNTS if rule in AXE_REQUIRED}
    (ROOT / "_build" / "axe.json").write_text(json.dumps(AXE_COUNTS, indent=2, sort_keys=True) + "\n")
