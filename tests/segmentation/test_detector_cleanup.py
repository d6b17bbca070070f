"""Clean-up steps of the detector, each on a tiny drawn input."""

from __future__ import annotations

import cv2
import numpy as np

from segmentation.cleanup import (
    binarize,
    estimate_skew,
    normalize_illumination,
    remove_lines,
    rotation_matrix,
)


def test_estimated_skew_levels_rotated_rows():
    xs = np.linspace(100, 1500, 40)
    rows = np.array([(x, y) for y in (300, 600, 900) for x in xs], np.float64)
    tilt = cv2.getRotationMatrix2D((800, 600), 3.0, 1.0)
    tilted = rows @ tilt[:, :2].T + tilt[:, 2]
    angle = estimate_skew(tilted, max_angle=5.0, bin_size=3.0)
    fix = rotation_matrix(angle, (1200, 1600))
    levelled = tilted @ fix[:, :2].T + fix[:, 2]
    assert abs(abs(angle) - 3.0) < 0.1
    assert np.ptp(levelled[:40, 1]) < 3  # the first row is level again


def test_shadow_is_normalized_away_and_ink_stays():
    page = np.full((400, 600), 230, np.float32) * np.linspace(0.5, 1.0, 600)[None, :]
    page = page.astype(np.uint8)
    cv2.putText(page, "x+1", (250, 220), cv2.FONT_HERSHEY_SIMPLEX, 2, 20, 4)
    ink, _ = binarize(normalize_illumination(page, 40), 0.2, 0.1)
    assert ink[:, :200].sum() == 0  # the dark side of the page is paper, not ink
    assert ink[150:240, 240:400].any()


def test_rule_is_removed_but_a_stroke_crossing_it_stays_whole():
    ink = np.zeros((200, 600), np.uint8)
    cv2.line(ink, (0, 100), (599, 100), 255, 2)  # the rule
    cv2.line(ink, (300, 70), (300, 130), 255, 3)  # a stroke crossing it
    clean = remove_lines(ink, ink, rule_length=300, stem_length=90, bridge=6)
    assert clean[100, 50:250].sum() == 0 and clean[100, 350:550].sum() == 0
    count, _ = cv2.connectedComponents(clean)
    assert count == 2  # background + the stroke in one piece
