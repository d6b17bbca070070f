"""Find formula regions on a page image.

Usage:
    >>> detector = FormulaDetector()
    >>> boxes = detector(page)  # page: uint8 gray or RGB numpy array
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from ocr_model.preprocessing import to_gray
from segmentation.cleanup import (
    binarize,
    estimate_skew,
    normalize_illumination,
    remove_lines,
    rotation_matrix,
)
from segmentation.grouping import GroupingConfig, char_height, group_formulas


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


def reading_order(boxes: list[Box]) -> list[Box]:
    """Top-to-bottom rows, left-to-right within a row (rows: boxes overlapping half in y)."""
    rows: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: (b.y0 + b.y1) / 2):
        row = rows[-1] if rows else None
        if row is not None:
            top, bottom = min(b.y0 for b in row), max(b.y1 for b in row)
            if min(bottom, box.y1) - max(top, box.y0) >= 0.5 * min(box.height, bottom - top):
                row.append(box)
                continue
        rows.append([box])
    return [box for row in rows for box in sorted(row, key=lambda b: b.x0)]


@dataclass
class FormulaDetector:
    """Image-based formula detector: clean-up, connected components, layout grouping.

    Args:
        max_pixels: pages with more pixels raise ``PageTooLargeError`` (default: A4 at 600 DPI
            is 35 Mpx; anything larger is a mistake or an attack).
        work_pixels: the page is downscaled to about this many pixels first (A4 at ~110 DPI:
            characters stay >= 10 px high, and the page fits the 100 ms budget).
        ink_contrast: ink is at least this much darker than the local paper (0.2: pencil and
            JPEG-softened strokes pass, paper texture and sensor noise do not).
        max_skew: largest page rotation corrected, degrees (phones and feeders: a few degrees).
        faint_contrast: pixels this much darker than the paper are faint ink: kept next to
            ink (thin strokes stay whole) and searched for ruled lines (thin light rules lose
            contrast when the page is downscaled; noise never forms long runs).
        rule_length: horizontal runs longer than this many character heights are ruled lines
            (the widest formula in the hand data is ~15, its fraction bars shorter).
        stem_length: vertical runs taller than this many character heights are table borders
            or shadows (a big bracket or integral is ~2.5).
        speckle: components smaller than this fraction of a character's area are dust.
        min_score: groups scoring lower are dropped (0.5 keeps any group of two symbols; a
            lone symbol is more often a page number or a stray mark than a formula).
        edge_margin: groups centred this close to the page border (fraction of the shorter
            side; 0.03 is 6 mm on A4) are shadows or scanner borders: nobody writes there.
        padding: page pixels added around the ink of each box (anti-aliased stroke edges).
        grouping: layout thresholds, see ``GroupingConfig``.
    """

    max_pixels: int = 40_000_000
    work_pixels: int = 1_100_000
    ink_contrast: float = 0.2
    max_skew: float = 5.0
    faint_contrast: float = 0.1
    rule_length: float = 15.0
    stem_length: float = 3.0
    speckle: float = 0.015
    min_score: float = 0.5
    edge_margin: float = 0.03
    padding: int = 2
    grouping: GroupingConfig = field(default_factory=GroupingConfig)

    def __call__(self, page: np.ndarray) -> list[Box]:
        """Boxes of the formulas on ``page`` (uint8 gray/RGB/RGBA) in reading order."""
        if page.ndim not in (2, 3):
            raise ValueError(f"expected a 2-D gray or 3-D color page, got shape {page.shape}")
        height, width = page.shape[:2]
        if height * width > self.max_pixels:
            raise PageTooLargeError(
                f"page of {width}x{height} pixels exceeds max_pixels={self.max_pixels}"
            )
        if height < 8 or width < 8:
            return []
        gray = to_gray(page)
        scale = min(1.0, math.sqrt(self.work_pixels / (height * width)))
        if scale < 1.0:
            size = (max(8, round(width * scale)), max(8, round(height * scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        # Paper estimate must not see ink: wider than any stroke, about 4 % of the page width.
        normalized = normalize_illumination(gray, max(16, gray.shape[1] // 25))
        ink, faint = binarize(normalized, self.ink_contrast, self.faint_contrast)

        count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
        stats = stats[1:count]
        char = char_height(self._glyph_heights(stats, ink.shape))
        if char <= 0:
            return []
        rule, stem = self.rule_length * char, self.stem_length * char
        has_lines = bool(
            np.any((stats[:, cv2.CC_STAT_WIDTH] >= rule) | (stats[:, cv2.CC_STAT_HEIGHT] >= stem))
        )
        angle = self._skew(stats, char)
        matrix = None
        if angle != 0.0:
            matrix, normalized = self._rotate(normalized, angle)
            ink, faint = binarize(normalized, self.ink_contrast, self.faint_contrast)
        if has_lines:
            ink = remove_lines(ink, faint, round(rule), round(stem), max(4, round(char / 2)))
        if matrix is not None or has_lines:
            count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
            stats = stats[1:count]
        keep = stats[:, cv2.CC_STAT_AREA] >= self.speckle * char * char
        stats = stats[keep]
        boxes = np.column_stack(
            [
                stats[:, 0],
                stats[:, 1],
                stats[:, 0] + stats[:, 2],
                stats[:, 1] + stats[:, 3],
            ]
        ).astype(np.float64)
        found = []
        edge = self.edge_margin * min(height, width)
        for members, score in group_formulas(boxes, char, self.grouping):
            if score < self.min_score:
                continue
            x0, y0, x1, y1 = self._page_box(boxes[members], matrix, scale)
            centre_x, centre_y = (x0 + x1) / 2, (y0 + y1) / 2
            if min(centre_x, centre_y, width - centre_x, height - centre_y) < edge:
                continue  # page-edge shadow, binding or scanner border, not writing
            x0, y0 = max(0, x0 - self.padding), max(0, y0 - self.padding)
            x1, y1 = min(width, x1 + self.padding), min(height, y1 + self.padding)
            if x1 > x0 and y1 > y0:
                found.append(Box(x0, y0, x1, y1, score))
        return reading_order(found)

    @staticmethod
    def _glyph_heights(stats: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Heights of the components that tell the character size: not page furniture (a rule
        grid is one huge sparse component, broken rules are many flat pieces), not bars, and
        not larger than a tenth of the page."""
        widths, heights = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
        # Even a thin diagonal stroke fills ~15 % of its box; a ruled grid fills ~1 %.
        solid = stats[:, cv2.CC_STAT_AREA] >= 0.04 * widths * heights
        small = (heights <= shape[0] / 10) & (widths <= shape[1] / 4)
        upright = widths <= 2.5 * heights
        return heights[solid & small & upright].astype(np.float64)

    def _skew(self, stats: np.ndarray, char: float) -> float:
        """Skew angle from the baselines of character-sized components (0 if below 0.3 deg)."""
        heights = stats[:, cv2.CC_STAT_HEIGHT]
        widths = stats[:, cv2.CC_STAT_WIDTH]
        letters = (heights >= 0.5 * char) & (heights <= 2.0 * char) & (widths <= 3.0 * char)
        points = np.column_stack(
            [
                stats[letters, 0] + widths[letters] / 2,
                stats[letters, 1] + heights[letters],
            ]
        ).astype(np.float64)
        angle = estimate_skew(points, self.max_skew, max(1.0, char / 4))
        # Below a third of a degree a 1000 px formula moves by under 6 px: not worth a rotation.
        return angle if abs(angle) >= 0.3 else 0.0

    @staticmethod
    def _rotate(normalized: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
        """Deskew the normalized page onto a canvas large enough to keep the corners."""
        height, width = normalized.shape
        margin = math.ceil(math.sin(math.radians(abs(angle))) * max(height, width) / 2) + 2
        matrix = rotation_matrix(angle, (height, width), margin)
        size = (width + 2 * margin, height + 2 * margin)
        rotated = cv2.warpAffine(normalized, matrix, size, flags=cv2.INTER_LINEAR, borderValue=255)
        return matrix, rotated

    @staticmethod
    def _page_box(
        boxes: np.ndarray, matrix: np.ndarray | None, scale: float
    ) -> tuple[int, int, int, int]:
        """Union of component boxes, mapped from the work frame back to page pixels.

        Each component's corners are rotated back separately: small boxes stay tight, unlike
        rotating the corners of the whole group.
        """
        if matrix is not None:
            inverse = cv2.invertAffineTransform(matrix)
            corners = np.concatenate(
                [boxes[:, [0, 1]], boxes[:, [2, 1]], boxes[:, [0, 3]], boxes[:, [2, 3]]]
            )
            mapped = corners @ inverse[:, :2].T + inverse[:, 2]
            x0, y0 = mapped.min(axis=0)
            x1, y1 = mapped.max(axis=0)
        else:
            x0, y0 = boxes[:, 0].min(), boxes[:, 1].min()
            x1, y1 = boxes[:, 2].max(), boxes[:, 3].max()
        return (
            math.floor(x0 / scale),
            math.floor(y0 / scale),
            math.ceil(x1 / scale),
            math.ceil(y1 / scale),
        )
