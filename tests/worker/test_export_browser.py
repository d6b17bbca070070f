"""The review page in a real headless chromium: entries, the low-confidence filter, no injection.

``--dump-dom`` prints the DOM after the page's script ran, so it shows what the user gets: which
entries the filter hid (``?filter=low`` ticks the checkbox on load) and which elements exist.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from worker.pipeline import save_outputs
from worker.schema import DocumentResult, PageResult, Region

CHROMIUM = next(
    (path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (apt-get install chromium): browser checks skipped",
)

INJECTED_SCRIPT = "</script><script>alert(1)</script>"
INJECTED_IMAGE = "<img src=x onerror=alert(2)>"  # a file name may hold this, but not a "/"


class Dom(HTMLParser):
    """The parts of a dumped DOM the tests look at."""

    def __init__(self, text: str):
        super().__init__()
        self.regions: list[dict[str, str | None]] = []
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.latex: list[str] = []
        self.texts: dict[str, str] = {}
        self._capture: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        if tag == "article":
            self.regions.append(attributes)
        if tag in ("code", "h1") or attributes.get("id") == "shown":
            self._capture = attributes.get("id") or tag
            self.texts[self._capture] = ""

    def handle_endtag(self, tag: str) -> None:
        if self._capture == "code" and tag == "code":
            self.latex.append(self.texts["code"])
        if tag in ("code", "h1", "span"):
            self._capture = None

    def handle_data(self, data: str) -> None:
        if self._capture is not None:
            self.texts[self._capture] += data


def dump_dom(page: Path, profile: Path, query: str = "") -> Dom:
    run = subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
            "--dump-dom", page.as_uri() + query,
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    return Dom(run.stdout)


@pytest.fixture
def review_page(tmp_path: Path, make_pdf) -> tuple[Path, DocumentResult]:
    """The review page of a real PDF whose name and one formula try to inject markup/script."""
    pdf = make_pdf(tmp_path / f"{INJECTED_IMAGE}.pdf", [["x^2 = 4", "a/b", "k + 1 = 2"], ["y"]])
    box = [20, 40, 300, 90]
    result = DocumentResult(
        source=str(pdf),
        dpi=100,
        pages=[
            PageResult(0, 414, 584, [
                Region(box, "x ^ { 2 } = 4", 0.95, False),
                Region([20, 110, 200, 160], INJECTED_SCRIPT, 0.2, True),
                Region([20, 180, 200, 230], "k + 1 = 2", 0.9, False),
            ]),
            PageResult(1, 414, 584, [Region(box, r"\begin{matrix} y \end{matrix}", 0.4, True)]),
        ],
    )  # fmt: skip
    html_path = save_outputs(result, tmp_path / "out", "sheet", ["html"])["html"]
    return html_path, result


def test_review_page_shows_one_entry_per_region(review_page, tmp_path):
    page, result = review_page
    dom = dump_dom(page, tmp_path / "profile")
    assert len(dom.regions) == sum(len(p.regions) for p in result.pages) == 4
    assert all("hidden" not in region for region in dom.regions)
    assert dom.texts["shown"] == "4"  # written by the page's script: it ran


def test_low_confidence_filter_hides_the_confident_entries(review_page, tmp_path):
    page, _ = review_page
    dom = dump_dom(page, tmp_path / "profile", query="?filter=low")
    low = [r for r in dom.regions if "low" in (r["class"] or "").split()]
    confident = [r for r in dom.regions if r not in low]
    assert len(low) == 2 and len(confident) == 2
    assert all("hidden" in region for region in confident)
    assert all("hidden" not in region for region in low)
    assert dom.texts["shown"] == "2"


def test_injected_script_and_markup_are_shown_as_text_not_run(review_page, tmp_path):
    page, _ = review_page
    dom = dump_dom(page, tmp_path / "profile")
    assert INJECTED_SCRIPT in dom.latex  # the LaTeX source shows the string itself
    assert INJECTED_IMAGE in dom.texts["h1"]  # so does the heading with the file name
    assert [tag for tag, _ in dom.elements].count("script") == 1  # only the page's own
    assert not [attrs for tag, attrs in dom.elements if tag == "img" and attrs.get("src") == "x"]
