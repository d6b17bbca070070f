"""Overlay PNGs: each page with its formula boxes and the recognized LaTeX drawn on it.

They let a person check a result at a glance: green boxes were recognized confidently, orange
ones are flagged ``low_confidence``. Pages are rendered again from the document (the pipeline
does not keep page images around), so overlays cost one extra rasterization per page.

Usage:
    >>> paths = save_overlays(result, "scan.pdf", Path("out/overlays"), "scan", settings)
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from segmentation.rasterize import InputError, load_page
from worker.pipeline import PipelineSettings, safe_output_path, write_atomic
from worker.schema import DocumentResult, PageResult

OK_COLOR = (40, 160, 40)  # BGR
LOW_CONFIDENCE_COLOR = (0, 140, 255)
MAX_LABEL_CHARS = 80  # longer LaTeX is cut with "..." so labels stay on the page


def draw_overlay(image: np.ndarray, page: PageResult) -> np.ndarray:
    """A BGR copy of a gray page with the page's regions drawn on it.

    Args:
        image: ``H x W`` uint8 gray page, as rasterized for ``page``.
        page: the page's result (boxes in the same pixels).
    """
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    # Line width and font grow with the page so labels stay legible at any DPI.
    scale = max(0.5, max(image.shape) / 2500)
    thickness = max(1, round(2 * scale))
    for number, region in enumerate(page.regions, start=1):
        x0, y0, x1, y1 = region.bbox
        color = LOW_CONFIDENCE_COLOR if region.low_confidence else OK_COLOR
        cv2.rectangle(canvas, (x0, y0), (x1, y1), color, thickness)
        latex = region.latex if len(region.latex) <= MAX_LABEL_CHARS else region.latex[:77] + "..."
        # Hershey fonts draw ASCII only; LaTeX is ASCII apart from rare unicode literals.
        label = f"{number}: {latex} ({region.confidence:.2f})".encode("ascii", "replace").decode()
        font_scale = 0.8 * scale
        (_, text_height), baseline = cv2.getTextSize(
            label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness
        )
        text_y = y0 - baseline - 2 if y0 - text_height - baseline > 0 else y1 + text_height + 2
        cv2.putText(
            canvas, label, (x0, text_y), cv2.FONT_HERSHEY_SIMPLEX, font_scale, color, thickness,
            cv2.LINE_AA,
        )  # fmt: skip
    return canvas


def save_overlays(
    result: DocumentResult,
    path: str | Path,
    out_dir: Path,
    name: str,
    settings: PipelineSettings,
) -> list[Path]:
    """Write ``out_dir/<name>.page-NNN.png`` for every page of ``path`` that could be read.

    Args:
        result: the document's result (failed documents and pages get no overlay).
        path: the document, rendered again with ``settings``.
        out_dir: created if missing.
        name: a safe file-name stem (``output_name``).
        settings: the settings ``result`` was made with, so boxes line up.
    """
    if result.status != "ok":
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for page in result.pages:
        if page.error is not None:
            continue
        try:
            raster = load_page(path, page.index, settings.dpi, settings.limits, settings.password)
        except InputError:  # the file changed since it was processed: nothing to draw on
            break
        if raster.image is None:
            continue
        ok, png = cv2.imencode(".png", draw_overlay(raster.image, page))
        if not ok:
            raise RuntimeError("OpenCV could not encode the overlay PNG")
        target = safe_output_path(out_dir, f"{name}.page-{page.index + 1:03d}.png")
        write_atomic(target, png.tobytes())
        written.append(target)
    return written
