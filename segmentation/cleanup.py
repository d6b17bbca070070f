"""Page clean-up: from a photographed or scanned page to a binary ink mask without page furniture.

Each step is a small function so the detector reads as a list of steps and each step can be
tested on its own. Images here are the downscaled "work" page (see
``FormulaDetector.work_pixels``); ink masks are uint8 with ink 255 and paper 0.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

BACKGROUND_SCALE = 8  # paper brightness varies slowly: estimate it at 1/8 resolution


def normalize_illumination(gray: np.ndarray, kernel: int) -> np.ndarray:
    """Divide out the paper brightness so shadows and lighting gradients vanish (paper -> 255).

    A grey-level closing (max then min filter) wider than any stroke (``kernel`` pixels) erases
    the ink from a small copy but keeps large dark areas (shadows, the desk beyond the page
    edge) in place, so after the division only ink stays dark.
    """
    height, width = gray.shape
    small_size = (max(1, width // BACKGROUND_SCALE), max(1, height // BACKGROUND_SCALE))
    small = cv2.resize(gray, small_size, interpolation=cv2.INTER_AREA)
    size = max(3, (kernel // BACKGROUND_SCALE) | 1)
    element = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE, element)
    paper = cv2.blur(paper, (size, size))  # smooth the filter's blocky steps
    paper = cv2.resize(paper, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.divide(gray, np.maximum(paper, 1), scale=255)


def binarize(
    normalized: np.ndarray, contrast: float, faint_contrast: float
) -> tuple[np.ndarray, np.ndarray]:
    """Ink and faint masks of a normalized page: pixels darker than their paper by a ratio.

    A ratio to the local paper adapts to lighting like Sauvola's threshold without per-pixel
    window statistics. Ink is hysteresis-thresholded: pixels ``contrast`` darker, plus faint
    pixels (``faint_contrast`` darker) within two pixels of them, so thin strokes softened by
    downscaling, blur or JPEG stay connected instead of breaking into specks.

    Returns:
        (ink, faint) uint8 masks, 255 = ink.
    """
    strong = cv2.compare(normalized, round(255 * (1.0 - contrast)), cv2.CMP_LT)
    faint = cv2.compare(normalized, round(255 * (1.0 - faint_contrast)), cv2.CMP_LT)
    grown = cv2.dilate(strong, np.ones((3, 3), np.uint8), iterations=2)
    return strong | (grown & faint), faint


def estimate_skew(points: np.ndarray, max_angle: float, bin_size: float) -> float:
    """Angle (degrees) that levels the text rows through ``points``; see ``rotation_matrix``.

    Projection-profile method on baseline points (``N x 2`` x, y): the angle whose histogram
    of rotated y (bins of ``bin_size`` pixels) is sharpest. A few hundred points instead of
    rotating the image for every candidate: a coarse 0.25 degree scan, then 0.05 around it.
    """
    if len(points) < 5:
        return 0.0
    xs = points[:, 0] - points[:, 0].mean()
    ys = points[:, 1]

    def sharpness(angle: float) -> float:
        radians = math.radians(angle)
        rows = np.floor((ys * math.cos(radians) + xs * math.sin(radians)) / bin_size)
        profile = np.bincount((rows - rows.min()).astype(np.int64))
        return float(np.dot(profile, profile))

    coarse = np.arange(-max_angle, max_angle + 1e-9, 0.25)
    best = max(coarse, key=sharpness)
    fine = np.arange(best - 0.25, best + 0.25 + 1e-9, 0.05)
    # Ties (a page with one short row) keep the smallest correction.
    return float(max(fine, key=lambda a: (sharpness(a), -abs(a))))


def rotation_matrix(angle: float, shape: tuple[int, int], margin: int = 0) -> np.ndarray:
    """2 x 3 matrix applying the ``estimate_skew`` correction about the page centre.

    It maps y to ``y cos(angle) + x sin(angle)`` (the projection ``estimate_skew`` levelled),
    which is ``getRotationMatrix2D`` with the opposite sign; ``margin`` shifts the result onto
    a canvas that many pixels larger on every side.
    """
    height, width = shape
    matrix = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), -angle, 1.0)
    matrix[:, 2] += margin
    return matrix


def remove_lines(
    ink: np.ndarray, faint: np.ndarray, rule_length: int, stem_length: int, bridge: int
) -> np.ndarray:
    """Erase ruled lines, table borders and page-edge shadows from ``ink``.

    Straight runs are found on ``faint``, a more sensitive mask, because thin light rules break
    up in the ink mask and their pieces would survive; noise in ``faint`` never forms long runs.
    Three kinds go: horizontal runs of at least ``rule_length`` pixels (longer than any
    fraction bar), vertical runs of at least ``stem_length`` (taller than any glyph), and
    shorter horizontal runs that touch such a vertical run (the rest of a table grid). Only the
    runs' pixels go, except where a stroke crosses the line (ink within ``bridge`` pixels
    both above and below).
    """
    element = cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, stem_length), 1))
    rules = cv2.morphologyEx(faint, cv2.MORPH_OPEN, element)
    element = cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(3, stem_length)))
    stems = cv2.morphologyEx(faint, cv2.MORPH_OPEN, element)
    if stems.any() and rules.any():
        # Grid: short rules connected to a stem (table cells are narrower than a page rule).
        count, labels = cv2.connectedComponents(cv2.dilate(rules | stems, np.ones((3, 3))))
        grid = np.zeros(count, bool)
        grid[np.unique(labels[stems > 0])] = True
        grid[0] = False
        table = grid[labels]
    else:
        table = np.zeros(ink.shape, bool)
    # A thin light rule breaks into dashes even in the faint mask; closing 4-pixel gaps first
    # makes it one run again (a formula row is far shorter than ``rule_length``).
    dashes = cv2.morphologyEx(faint, cv2.MORPH_CLOSE, np.ones((1, 5), np.uint8))
    element = cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, rule_length), 1))
    lines = cv2.morphologyEx(dashes, cv2.MORPH_OPEN, element) | stems
    lines[table & (rules > 0)] = 255
    # Anti-aliased line edges are a pixel wider than the opened core.
    lines = cv2.dilate(lines, np.ones((3, 3), np.uint8))
    strokes = cv2.subtract(ink, lines)
    # Slivers of a rule left just above or below the removed band (where the rule was thicker
    # than the band) are one or two pixels tall; strokes crossing there are taller.
    near = cv2.dilate(lines, np.ones((7, 1), np.uint8))
    upright = cv2.morphologyEx(strokes, cv2.MORPH_OPEN, np.ones((3, 1), np.uint8))
    strokes = cv2.subtract(strokes, cv2.subtract(near, upright))
    # Where a stroke crosses the line (ink within ``bridge`` above and below), keep the line
    # pixels: the letter stays one piece, the rule between and under letters still goes.
    column = np.ones((bridge + 1, 1), np.uint8)
    below = cv2.dilate(strokes, column, anchor=(0, 0))
    above = cv2.dilate(strokes, column, anchor=(0, bridge))
    return strokes | (above & below & lines & ink)
