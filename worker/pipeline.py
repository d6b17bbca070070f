"""The pipeline every entry point runs: document -> pages -> formula boxes -> LaTeX -> JSON.

The local CLI and the Celery tasks both call these functions, so a document gives the same JSON
(timings aside) whichever way it was processed. A document is processed page by page
(``process_page``) and the pages are put together by ``assemble_document``; ``process_document``
is exactly those two steps, so a caller that fans pages out to several workers gets the same
result as one that does not.

Usage:
    >>> recognizer, detector = load_recognizer(), FormulaDetector()
    >>> result = process_document("scan.pdf", PipelineSettings(), recognizer, detector)
    >>> save_outputs(result, Path("out"), output_name("scan.pdf"))
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ocr_model import Recognizer
from ocr_model.files import atomic_write
from segmentation import Box, FormulaDetector, PageTooLargeError
from segmentation.rasterize import InputError, InputLimits, inspect_source, load_page
from segmentation.text_layer import drop_prose
from worker.export import TEXT_EXPORTERS, export_text
from worker.review import build_review
from worker.schema import DocumentResult, PageResult, Region

logger = logging.getLogger(__name__)

# Called after each page: (pages done, pages in the document, the page's result).
Progress = Callable[[int, int, PageResult], None]

# What save_outputs can write: the JSON schema, then the exports people read (worker/export.py,
# worker/review.py).
OUTPUT_FORMATS = ("json", *TEXT_EXPORTERS, "html")

MAX_NAME_CHARS = 120  # output names stay well under the 255-byte file name limit


@dataclass
class PipelineSettings:
    """Everything that changes a document's result, besides the model and the detector.

    Attributes:
        dpi: PDF render resolution; region boxes are in pixels at this resolution.
        low_confidence_threshold: regions whose recognition confidence is below this are flagged
            ``low_confidence`` for review.
        limits: size caps on files and pages.
        password: opens encrypted PDFs.
        crop_margin: pixels of page kept around each box, so strokes cut by a tight box survive.
        use_text_layer: on born-digital PDF pages, take formula boxes from the text layer
            (fonts say what is math) instead of the image detector.
    """

    dpi: int = 200
    low_confidence_threshold: float = 0.5
    limits: InputLimits = field(default_factory=InputLimits)
    password: str | None = None
    crop_margin: int = 4
    use_text_layer: bool = True

    def __post_init__(self) -> None:
        if not 18 <= self.dpi <= 1200:
            raise ValueError(f"dpi must be in 18..1200, got {self.dpi}")
        if not 0.0 <= self.low_confidence_threshold <= 1.0:
            raise ValueError("low_confidence_threshold must be in 0..1")


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 2)


def _crop(image: np.ndarray, box: Box, margin: int) -> np.ndarray:
    height, width = image.shape[:2]
    return image[
        max(0, box.y0 - margin) : min(height, box.y1 + margin),
        max(0, box.x0 - margin) : min(width, box.x1 + margin),
    ]


def process_page(
    path: str | Path,
    page_index: int,
    settings: PipelineSettings,
    recognizer: Recognizer,
    detector: FormulaDetector,
) -> PageResult:
    """Rasterize one page, find its formulas and recognize them in one batch.

    Args:
        path: the document.
        page_index: 0-based page (or TIFF frame).
        settings: DPI, thresholds and limits.
        recognizer: crops -> LaTeX (load it once and reuse it).
        detector: page -> formula boxes.

    Returns:
        The page's regions in reading order, or the page's ``error`` when it cannot be read.

    Raises:
        InputError: the whole document cannot be read.
    """
    start = time.perf_counter()
    raster = load_page(
        path,
        page_index,
        settings.dpi,
        settings.limits,
        settings.password,
        text_layer=settings.use_text_layer,
    )
    page = PageResult(
        index=page_index, width=raster.width, height=raster.height, warnings=raster.warnings
    )
    page.timings_ms["rasterize"] = _ms(start)
    if raster.error is not None:
        page.error = raster.error
        return page

    start = time.perf_counter()
    try:
        if raster.text_boxes is not None:
            boxes = raster.text_boxes
        else:
            boxes = drop_prose(detector(raster.image), raster.prose_boxes)
    except PageTooLargeError as exc:
        page.error = str(exc)
        return page
    page.timings_ms["detect"] = _ms(start)

    start = time.perf_counter()
    # All crops of a page in one call: the recognizer batches them by width.
    crops = [_crop(raster.image, box, settings.crop_margin) for box in boxes]
    recognitions = recognizer(crops) if crops else []
    page.timings_ms["recognize"] = _ms(start)
    for box, rec in zip(boxes, recognitions, strict=True):
        # Flag on the rounded value, so the JSON never shows 0.5 flagged below a 0.5 threshold.
        confidence = round(rec.confidence, 4)
        region = Region(
            bbox=[box.x0, box.y0, box.x1, box.y1],
            latex=rec.latex,
            confidence=confidence,
            low_confidence=confidence < settings.low_confidence_threshold,
            detection_score=round(box.score, 4),
            method=box.method,
            repaired=rec.repaired,
        )
        page.regions.append(region)
    return page


def assemble_document(
    path: str | Path,
    pages: list[PageResult],
    settings: PipelineSettings,
    model_info: dict[str, Any],
    *,
    error: str | None = None,
    warnings: Sequence[str] = (),
) -> DocumentResult:
    """Put page results together into the document's result.

    A document is ``"failed"`` when it could not be opened (``error``) or when not one of its
    pages could be read; pages with errors in an otherwise readable document keep their own
    ``error`` and the document stays ``"ok"``.

    Args:
        path: the document (recorded as an absolute path).
        pages: page results in any order.
        model_info: ``recognizer.info``.
        error: why the document could not be opened, if it could not.
        warnings: document-level warnings (``SourceInfo.warnings``).
    """
    pages = sorted(pages, key=lambda p: p.index)
    if error is None and pages and all(p.error is not None for p in pages):
        error = pages[0].error if len(pages) == 1 else f"no page could be read: {pages[0].error}"
    timings: dict[str, float] = {}
    for page in pages:
        for stage, ms in page.timings_ms.items():
            timings[stage] = round(timings.get(stage, 0.0) + ms, 2)
    return DocumentResult(
        source=os.path.abspath(path),
        status="failed" if error is not None else "ok",
        error=error,
        pages=pages,
        dpi=settings.dpi,
        model=dict(model_info),
        timings_ms=timings,
        warnings=list(warnings),
    )


def process_document(
    path: str | Path,
    settings: PipelineSettings,
    recognizer: Recognizer,
    detector: FormulaDetector,
    progress: Progress | None = None,
) -> DocumentResult:
    """Recognize every formula in a PDF or image; never raises for a bad document.

    Args:
        path: a PDF, PNG, JPEG or TIFF file.
        settings: DPI, thresholds and limits.
        recognizer: crops -> LaTeX, loaded once by the caller.
        detector: page -> formula boxes.
        progress: called after each page.

    Returns:
        The result; a document that cannot be read comes back ``"failed"`` with its ``error``.

    Usage:
        >>> result = process_document("scan.pdf", PipelineSettings(dpi=300), recognizer, detector)
        >>> [r.latex for page in result.pages for r in page.regions]
    """
    start = time.perf_counter()
    try:
        source = inspect_source(path, settings.limits, settings.password)
    except InputError as exc:
        logger.error("%s: %s", path, exc)
        result = assemble_document(path, [], settings, recognizer.info, error=str(exc))
        result.timings_ms["total"] = _ms(start)
        return result
    pages = []
    for index in range(source.page_count):
        try:
            page = process_page(path, index, settings, recognizer, detector)
        except InputError as exc:  # the file changed or vanished since it was inspected
            page = PageResult(index=index, error=str(exc))
        if page.error is not None:
            logger.error("%s: page %d: %s", path, index + 1, page.error)
        pages.append(page)
        if progress is not None:
            progress(index + 1, source.page_count, page)
    result = assemble_document(path, pages, settings, recognizer.info, warnings=source.warnings)
    result.timings_ms["total"] = _ms(start)
    return result


def output_name(path: str | Path, root: str | Path | None = None) -> str:
    """A safe file-name stem for a document's outputs.

    Inside a folder (``root``) the relative path is kept, joined with ``__``, so ``a/x.pdf`` and
    ``b/x.pdf`` do not collide. Only ``[A-Za-z0-9._-]`` survive, leading dots are dropped, so a
    name can never be a path, hidden, or ``..``.

    Usage:
        >>> output_name("in/sub/scan 1.pdf", root="in")
        'sub__scan_1'
    """
    path = Path(path)
    parts = list(path.relative_to(root).parts) if root is not None else [path.name]
    parts[-1] = Path(parts[-1]).stem or parts[-1]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", "__".join(parts)).lstrip("._-")
    return name[:MAX_NAME_CHARS] or "document"


def safe_output_path(out_dir: Path, filename: str) -> Path:
    """``out_dir / filename``, refusing any name that would land outside ``out_dir``."""
    target = (out_dir / filename).resolve()
    if target.parent != out_dir.resolve():
        raise ValueError(f"output name {filename!r} would leave {out_dir}")
    return target


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so readers see the old content or the new, never a partial one."""
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)


def render_output(result: DocumentResult, fmt: str) -> str:
    """A result as the text of one output format (see ``OUTPUT_FORMATS``).

    Raises:
        ValueError: an unknown format.
    """
    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "html":
        return build_review(result)
    return export_text(result, fmt)


def save_outputs(
    result: DocumentResult, out_dir: Path, name: str, formats: Sequence[str] = ("json",)
) -> dict[str, Path]:
    """Write a result as ``out_dir/<name>.<format>``, atomically.

    Args:
        result: the document's result.
        out_dir: created if missing.
        name: the file-name stem, normally from ``output_name``; it must not leave ``out_dir``.
        formats: any of ``OUTPUT_FORMATS``: ``"json"`` (the schema), ``"tex"``, ``"md"`` and
            ``"html"`` (the review page, which reads ``result.source`` again for the crops).

    Returns:
        Format -> path written.

    Raises:
        ValueError: an unknown format, or a name that would leave ``out_dir``.
    """
    unknown = [fmt for fmt in formats if fmt not in OUTPUT_FORMATS]
    if unknown:  # before writing anything, so a typo leaves no half-done outputs
        raise ValueError(f"unknown output format {unknown[0]!r}: use {', '.join(OUTPUT_FORMATS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for fmt in formats:
        path = safe_output_path(out_dir, f"{name}.{fmt}")
        write_atomic(path, render_output(result, fmt).encode("utf-8"))
        written[fmt] = path
    return written
