"""CROHME InkML: read pen strokes and their label, render them to paper-like images.

Rendering follows what the offline CROHME test images look like: black strokes of a roughly
constant pen width on white, with characters of a roughly constant size, so the expression's
overall height varies with its layout (a fraction is taller than ``a + b``), as on paper.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

_NS = "{http://www.w3.org/2003/InkML}"
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class InkError(ValueError):
    """An InkML file that cannot be used, with the file named."""


@dataclass
class InkSample:
    """One handwritten expression: strokes as ``N x 2`` float arrays (x, y; y down)."""

    name: str
    strokes: list[np.ndarray]
    truth: str  # the raw LaTeX annotation of the file ("" when absent)


def read_inkml(path: str | Path) -> InkSample:
    """Parse an InkML file.

    Raises:
        InkError: unparsable XML, or no usable trace.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise InkError(f"{path}: cannot read InkML: {exc}") from exc
    truth = ""
    for annotation in root.iter(f"{_NS}annotation"):
        if annotation.get("type") == "truth":
            truth = (annotation.text or "").strip().strip("$").strip()
            break
    strokes = []
    for trace in root.iter(f"{_NS}trace"):
        points = []
        for point in (trace.text or "").split(","):
            values = _NUMBER.findall(point)
            if len(values) >= 2:
                points.append((float(values[0]), float(values[1])))
        if points:
            strokes.append(np.asarray(points, np.float32))
    if not strokes:
        raise InkError(f"{path}: no trace with coordinates")
    return InkSample(path.stem, strokes, truth)


def median_stroke_height(strokes: list[np.ndarray]) -> float:
    """Typical stroke height, a proxy for character size (robust to long fraction bars)."""
    heights = [float(s[:, 1].max() - s[:, 1].min()) for s in strokes]
    tall = [h for h in heights if h > 0]
    return float(np.median(tall)) if tall else 1.0


def render_strokes(
    strokes: list[np.ndarray],
    char_height: float = 22.0,
    thickness: int = 3,
    transform: np.ndarray | None = None,
    margin: int = 6,
) -> np.ndarray:
    """Draw strokes as dark anti-aliased lines on white paper.

    Args:
        strokes: ``N x 2`` arrays in any unit.
        char_height: pixels the median stroke height is scaled to.
        thickness: pen width in pixels.
        transform: optional 2 x 2 matrix (rotation/shear/stretch) applied after scaling.
        margin: white pixels around the ink.

    Returns:
        uint8 grayscale image, 255 = paper.
    """
    scale = char_height / median_stroke_height(strokes)
    points = [s * scale for s in strokes]
    if transform is not None:
        points = [p @ transform.T for p in points]
    every = np.concatenate(points)
    low = every.min(axis=0) - margin - thickness
    size = np.ceil(every.max(axis=0) - low + margin + thickness).astype(int)
    width, height = int(min(size[0], 4000)), int(min(size[1], 1000))
    image = np.full((height, width), 255, np.uint8)
    shift = 4  # sub-pixel precision for cv2 drawing
    for p in points:
        pts = np.round((p - low) * (1 << shift)).astype(np.int32).reshape(-1, 1, 2)
        if len(pts) == 1:
            cv2.circle(
                image, tuple(pts[0, 0]), max(1, thickness // 2) << shift, 0, -1, cv2.LINE_AA, shift
            )
        else:
            cv2.polylines(image, [pts], False, 0, thickness, cv2.LINE_AA, shift)
    return image
