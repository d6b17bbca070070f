"""Find formula regions on a page image.

Usage:
    >>> detector = FormulaDetector()
    >>> boxes = detector(page)  # page: uint8 gray or RGB numpy array
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


class PageTooLargeError(ValueError):
    """The page has more pixels than the detector is allowed to process."""


@dataclass
class Box:
    """One formula region in page pixels (``x1``/``y1`` exclusive).

    Attributes:
        score: how sure the detector is that this is a formula, 0..1.
        method: how it was found: ``"image"`` (contours) or ``"text_layer"`` (PDF text).
    """

    x0: int
    y0: int
    x1: int
    y1: int
    score: float = 1.0
    method: str = "image"

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


class FormulaDetector:
    """Contour-based formula detector (first simple version).

    Args:
        max_pixels: pages larger than this raise ``PageTooLargeError`` (A4 at 600 DPI fits).
        min_box_area: boxes with fewer pixels are noise.
    """

    def __init__(self, max_pixels: int = 40_000_000, min_box_area: int = 150):
        self.max_pixels = max_pixels
        self.min_box_area = min_box_area

    def __repr__(self) -> str:
        return f"FormulaDetector(max_pixels={self.max_pixels}, min_box_area={self.min_box_area})"

    def __call__(self, page: np.ndarray) -> list[Box]:
        """Boxes of the formulas on ``page`` in reading order."""
        if page.ndim == 3:
            page = cv2.cvtColor(page, cv2.COLOR_RGB2GRAY)
        height, width = page.shape
        if height * width > self.max_pixels:
            raise PageTooLargeError(
                f"page of {width}x{height} pixels exceeds max_pixels={self.max_pixels}"
            )
        ink = cv2.adaptiveThreshold(
            page, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 15
        )
        # Ruled lines: long horizontal runs that no glyph has.
        lines = cv2.morphologyEx(
            ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (width // 6, 1))
        )
        ink = cv2.subtract(ink, cv2.dilate(lines, np.ones((3, 1), np.uint8)))
        merged = cv2.dilate(ink, cv2.getStructuringElement(cv2.MORPH_RECT, (25, 15)))
        count, _, stats, _ = cv2.connectedComponentsWithStats(merged, connectivity=8)
        boxes = []
        for x, y, w, h, _ in stats[1:count]:
            if w * h >= self.min_box_area and w > 24 and h > 14:
                # Undo the dilation's growth (half the kernel on each side).
                boxes.append(Box(int(x + 12), int(y + 7), int(x + w - 12), int(y + h - 7), 1.0))
        return sorted(boxes, key=lambda b: (b.y0 // 40, b.x0))
