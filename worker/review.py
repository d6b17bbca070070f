"""A self-contained HTML page for checking one document's OCR by eye.

For every region the page shows the crop cut from the scan beside the recognized formula rendered
as an image (matplotlib mathtext, so it works offline without a CDN or a TeX install), its LaTeX
source and its confidence as a colour; page thumbnails with the boxes drawn link to the regions,
and a checkbox hides everything but the low-confidence formulas (``?filter=low`` in the URL ticks
it on load). Everything that comes from the document is escaped, and a Content-Security-Policy
that only allows the page's own script is a second line of defence.

Usage:
    >>> html_text = build_review(result)
    >>> Path("paper.html").write_text(html_text, encoding="utf-8")
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from matplotlib import mathtext

from segmentation.rasterize import InputError, InputLimits, load_page
from worker.export import NOTHING_RECOGNIZED, one_line, region_comment
from worker.schema import DocumentResult, PageResult, Region

_SCRIPT = """
const onlyLow = document.getElementById("only-low");
function applyFilter() {
  let shown = 0;
  for (const region of document.querySelectorAll(".region")) {
    region.hidden = onlyLow.checked && !region.classList.contains("low");
    if (!region.hidden) shown += 1;
  }
  for (const page of document.querySelectorAll(".page")) {
    page.hidden = onlyLow.checked && !page.querySelector(".region.low") && !page.dataset.error;
  }
  document.getElementById("shown").textContent = shown;
}
onlyLow.addEventListener("change", applyFilter);
if (new URLSearchParams(location.search).get("filter") === "low") onlyLow.checked = true;
applyFilter();
"""

# The policy allows exactly this script (by hash), inline styles and data: images: injected
# markup could neither run code nor load anything from the network.
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    f"script-src 'sha256-{_SCRIPT_HASH}'"
)

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; color: #222; background: #f6f6f4; }
header { padding: 12px 20px; background: #fff; border-bottom: 1px solid #ddd; }
header h1 { font-size: 1.2rem; margin: 0 0 6px; overflow-wrap: anywhere; }
.layout { display: flex; align-items: flex-start; }
nav { position: sticky; top: 0; max-height: 100vh; overflow-y: auto; padding: 12px;
      flex: 0 0 auto; }
nav a { display: block; margin-bottom: 10px; color: inherit; text-decoration: none; }
nav svg { display: block; background: #fff; box-shadow: 0 1px 3px #0003; }
main { flex: 1; padding: 12px 20px; min-width: 0; }
.page h2 { font-size: 1.05rem; margin: 18px 0 8px; }
.region { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 6px 14px;
          background: #fff; border-left: 8px solid var(--conf); padding: 10px; margin: 0 0 10px;
          box-shadow: 0 1px 2px #0002; }
.region[hidden], .page[hidden] { display: none; }
.region img { max-width: 100%; height: auto; }
.crop img { border: 1px solid #ccc; }
.latex { grid-column: 1 / span 2; margin: 0; padding: 4px 6px; background: #f0f0ee;
         white-space: pre-wrap; overflow-wrap: anywhere; }
.meta { grid-column: 1 / span 2; margin: 0; font-size: 0.85rem; color: #555; }
.badge { color: #fff; background: var(--conf); border-radius: 3px; padding: 1px 6px; }
.check { color: #b00; font-weight: bold; }
.unavailable, .error { color: #b00; font-style: italic; }
"""


@dataclass
class ReviewSettings:
    """How the review page draws images (sizes trade file size against legibility)."""

    thumbnail_width: int = 180  # pixels of each page thumbnail in the sidebar
    crop_margin: int = 6  # page pixels kept around each box so cut-off strokes show
    max_crop_width: int = 800  # wider crops are scaled down to keep the file small
    formula_dpi: int = 110  # mathtext resolution of the rendered formulas
    limits: InputLimits = field(default_factory=InputLimits)  # for re-reading the source


def confidence_colour(confidence: float) -> str:
    """Red (0) through amber to green (1), as a CSS colour."""
    hue = round(120 * min(1.0, max(0.0, confidence)))
    return f"hsl({hue}, 70%, 38%)"


def data_uri(png: bytes) -> str:
    """A ``data:`` URI of PNG bytes, so the page needs no files beside it."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def png_data_uri(image: np.ndarray) -> str:
    """A ``data:`` URI of an image array."""
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("could not encode image as PNG")
    return data_uri(encoded.tobytes())


def mathtext_source(latex: str) -> str:
    """LaTeX as mathtext reads it: mathtext drops a script after a space (``x ^ { 2 }``)."""
    return re.sub(r"\s*([\^_])\s*", r"\1", one_line(latex))


def render_formula(latex: str, dpi: int) -> tuple[str | None, str | None]:
    """Render LaTeX with matplotlib mathtext.

    Returns:
        ``(data_uri, None)`` on success, ``(None, reason)`` when mathtext cannot draw it
        (mathtext covers common math but not e.g. environments), so the page says so instead
        of breaking.
    """
    if not latex.strip():
        return None, NOTHING_RECOGNIZED
    buffer = io.BytesIO()
    try:
        mathtext.math_to_image(f"${mathtext_source(latex)}$", buffer, dpi=dpi, format="png")
    except (ValueError, RuntimeError) as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        return None, f"cannot render this LaTeX: {reason}"
    return data_uri(buffer.getvalue()), None


def _crop(
    page_image: np.ndarray, page: PageResult, region: Region, settings: ReviewSettings
) -> np.ndarray | None:
    """Cut the region out of the page image, scaled if the page was rendered at another size."""
    height, width = page_image.shape[:2]
    scale = width / page.width if page.width else 1.0
    margin = settings.crop_margin
    x0, y0, x1, y1 = (round(v * scale) for v in region.bbox)
    x0, y0 = max(0, x0 - margin), max(0, y0 - margin)
    x1, y1 = min(width, x1 + margin), min(height, y1 + margin)
    if x1 <= x0 or y1 <= y0:
        return None
    crop = page_image[y0:y1, x0:x1]
    if crop.shape[1] > settings.max_crop_width:
        factor = settings.max_crop_width / crop.shape[1]
        crop = cv2.resize(crop, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    return crop


def _region_id(page: PageResult, number: int) -> str:
    return f"p{page.index + 1}-f{number}"


def _thumbnail(page: PageResult, page_image: np.ndarray | None, settings: ReviewSettings) -> str:
    """An SVG of the page with one clickable rectangle per region, coloured by confidence."""
    width = page.width or (page_image.shape[1] if page_image is not None else 1)
    height = page.height or (page_image.shape[0] if page_image is not None else 1)
    shown_height = round(settings.thumbnail_width * height / width)
    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="{settings.thumbnail_width}" '
        f'height="{shown_height}" role="img" aria-label="page {page.index + 1}">'
    ]
    if page_image is not None:
        small = cv2.resize(
            page_image, (settings.thumbnail_width, shown_height), interpolation=cv2.INTER_AREA
        )
        parts.append(
            f'<image href="{png_data_uri(small)}" width="{width}" height="{height}" '
            'preserveAspectRatio="none"/>'
        )
    stroke = max(2, width // 200)
    for number, region in enumerate(page.regions, start=1):
        x0, y0, x1, y1 = region.bbox
        parts.append(
            f'<a href="#{_region_id(page, number)}"><rect x="{x0}" y="{y0}" width="{x1 - x0}" '
            f'height="{y1 - y0}" fill="none" stroke="{confidence_colour(region.confidence)}" '
            f'stroke-width="{stroke}"/></a>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _region_html(
    page: PageResult,
    number: int,
    region: Region,
    page_image: np.ndarray | None,
    missing_reason: str,
    settings: ReviewSettings,
) -> str:
    crop = _crop(page_image, page, region, settings) if page_image is not None else None
    if crop is not None:
        crop_html = (
            f'<img src="{png_data_uri(crop)}" alt="scan of formula {number} '
            f'on page {page.index + 1}">'
        )
    else:
        crop_html = f'<p class="unavailable">{html.escape(missing_reason or "empty box")}</p>'
    rendered, reason = render_formula(region.latex, settings.formula_dpi)
    if rendered is not None:
        formula_html = f'<img src="{rendered}" alt="rendered formula {number}">'
    else:
        formula_html = f'<p class="error">{html.escape(reason or "")}</p>'
    check = '<span class="check">CHECK</span> ' if region.low_confidence else ""
    low = " low" if region.low_confidence else ""
    return (
        f'<article class="region{low}" id="{_region_id(page, number)}" '
        f'style="--conf: {confidence_colour(region.confidence)}" '
        f'data-confidence="{region.confidence:.3f}">'
        f'<div class="crop">{crop_html}</div><div class="rendered">{formula_html}</div>'
        f'<pre class="latex"><code>{html.escape(region.latex)}</code></pre>'
        f'<p class="meta">{check}<span class="badge">{region.confidence:.2f}</span> '
        f"{html.escape(region_comment(page, number, region))}, found by "
        f"{html.escape(region.method)}</p></article>"
    )


def _page_image(
    result: DocumentResult, page: PageResult, source: Path, limits: InputLimits
) -> tuple[np.ndarray | None, str]:
    """Re-rasterize one page at the result's DPI: ``(image, "")`` or ``(None, why not)``.

    The pipeline keeps no page images, and a document that moved or changed since conversion
    must still give a review page, just without crops.
    """
    if page.error is not None:
        return None, "page could not be read"
    try:
        raster = load_page(source, page.index, result.dpi, limits)
    except (InputError, IndexError) as error:
        return None, f"scan not available: {error}"
    return raster.image, raster.error or ""


def build_review(
    result: DocumentResult, settings: ReviewSettings | None = None, source: Path | None = None
) -> str:
    """The review page of one document as a self-contained HTML string.

    Args:
        result: what the pipeline recognized.
        settings: image sizes; defaults to ``ReviewSettings()``.
        source: where the document is now, if it moved since ``result.source`` was recorded.
    """
    settings = settings or ReviewSettings()
    source = Path(source or result.source)
    regions = sum(len(p.regions) for p in result.pages)
    low = sum(r.low_confidence for p in result.pages for r in p.regions)
    name = html.escape(result.source)
    nav, sections = [], []
    for page in result.pages:
        image, why = _page_image(result, page, source, settings.limits)
        nav.append(
            f'<a href="#page-{page.index + 1}">{_thumbnail(page, image, settings)}'
            f"Page {page.index + 1}</a>"
        )
        error = f' data-error="{html.escape(page.error)}"' if page.error else ""
        body = [f'<section class="page" id="page-{page.index + 1}"{error}>']
        body.append(f"<h2>Page {page.index + 1}: {len(page.regions)} formulas</h2>")
        if page.error:
            reason = html.escape(page.error)
            body.append(f'<p class="error">This page could not be read: {reason}</p>')
        body += [
            _region_html(page, number, region, image, why, settings)
            for number, region in enumerate(page.regions, start=1)
        ]
        body.append("</section>")
        sections.append("".join(body))
    document_error = (
        f'<p class="error">The document could not be read: {html.escape(result.error)}</p>'
        if result.error
        else ""
    )
    model = html.escape(str(result.model.get("name", "unknown model")))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Review: {name}</title>
<style>{_STYLE}</style>
</head>
<body>
<header>
<h1>Review: {name}</h1>
<p>{len(result.pages)} pages, {regions} formulas, {low} with low confidence; model {model};
<span id="shown">{regions}</span> shown.</p>
<label><input type="checkbox" id="only-low"> Show only low-confidence formulas</label>
{document_error}
</header>
<div class="layout">
<nav>{"".join(nav)}</nav>
<main>{"".join(sections)}</main>
</div>
<script>{_SCRIPT}</script>
</body>
</html>
"""
