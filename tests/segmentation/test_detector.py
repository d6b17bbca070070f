"""FormulaDetector on pages drawn with OpenCV: what goes in is visible in each test."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segmentation import Box, FormulaDetector, PageTooLargeError

HEIGHT, WIDTH = 1400, 1000  # a small page at 120 DPI keeps the tests fast
FONT = cv2.FONT_HERSHEY_SIMPLEX


def blank(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    return np.full((height, width), 235, np.uint8)


def write(page: np.ndarray, text: str, x: int, y: int, scale: float = 1.4) -> None:
    """Text with its baseline at ``y``; about 30 px tall at scale 1.4."""
    cv2.putText(page, text, (x, y), FONT, scale, 30, 3, cv2.LINE_AA)


def fraction(page: np.ndarray, top: str, bottom: str, x: int, y: int) -> None:
    """A fraction whose bar is at height ``y``: numerator above, denominator below."""
    width = max(cv2.getTextSize(t, FONT, 1.4, 3)[0][0] for t in (top, bottom))
    write(page, top, x, y - 12)
    cv2.line(page, (x - 5, y), (x + width + 5, y), 30, 3)
    write(page, bottom, x, y + 45)


def power(page: np.ndarray, x: int, y: int) -> None:
    """``x^2 + 1``: an exponent raised above its base and written smaller."""
    write(page, "x", x, y)
    write(page, "2", x + 32, y - 24, scale=0.9)
    write(page, "+ 1", x + 65, y)


def ink_box(page: np.ndarray) -> tuple[int, int, int, int]:
    x, y, w, h = cv2.boundingRect(cv2.findNonZero((page < 128).view(np.uint8)))
    return x, y, x + w, y + h


def contains(box: Box, region: tuple[int, int, int, int]) -> bool:
    x0, y0, x1, y1 = region
    return box.x0 <= x0 and box.y0 <= y0 and box.x1 >= x1 and box.y1 >= y1


def iou(box: Box, region: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = region
    w = min(box.x1, x1) - max(box.x0, x0)
    h = min(box.y1, y1) - max(box.y0, y0)
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / (box.width * box.height + (x1 - x0) * (y1 - y0) - w * h)


@pytest.fixture(scope="module")
def detector() -> FormulaDetector:
    return FormulaDetector()


def test_one_formula_gives_one_box_containing_all_ink(detector):
    page = blank()
    write(page, "3x + 4y = 12", 300, 700)
    boxes = detector(page)
    assert len(boxes) == 1
    assert contains(boxes[0], ink_box(page))
    assert 0.0 <= boxes[0].score <= 1.0 and boxes[0].method == "image"


def test_fraction_and_exponent_stay_in_one_box_each(detector):
    page = blank()
    fraction(page, "a + b", "c - d", 300, 400)
    part = page.copy()
    power(page, 300, 900)
    exponent_ink = ink_box(np.where(part == page, 235, page).astype(np.uint8))
    boxes = detector(page)
    assert len(boxes) == 2
    assert contains(boxes[0], ink_box(part))  # numerator, bar and denominator together
    assert contains(boxes[1], exponent_ink)


def test_two_formulas_on_one_line_give_two_boxes_left_to_right(detector):
    page = blank()
    write(page, "x + 1 = 2", 80, 600)
    write(page, "y - 3 = 0", 650, 600)
    boxes = detector(page)
    assert len(boxes) == 2
    assert boxes[0].x1 < 500 < boxes[1].x0


def test_exercise_number_is_not_part_of_the_formula(detector):
    page = blank()
    write(page, "1.", 60, 500)
    write(page, "2x - 5 = 7", 160, 500)
    boxes = detector(page)
    assert len(boxes) == 1
    assert boxes[0].x0 > 120


def test_a_lone_subscripted_letter_is_a_formula_not_a_label(detector):
    # The stem of a subscript "i" sits low after its letter, like the period of "1.", but a
    # period is a dot, not a stroke (the bundled example's handwritten x_i was dropped so).
    page = blank()
    cv2.line(page, (100, 450), (140, 500), 30, 4)  # a handwritten x, 50 px high
    cv2.line(page, (140, 450), (100, 500), 30, 4)
    cv2.circle(page, (153, 478), 2, 30, -1)  # the dot of the subscript i
    cv2.line(page, (155, 489), (155, 505), 30, 4)  # its stem, ending below the x
    subscript = ink_box(page)
    write(page, "- y + 1", 400, 500)
    boxes = detector(page)
    assert len(boxes) == 2
    assert contains(boxes[0], subscript)


def test_ruled_notebook_page_gives_no_line_boxes(detector):
    page = blank()
    for y in range(120, HEIGHT, 70):
        cv2.line(page, (0, y), (WIDTH, y), 150, 2)
    cv2.line(page, (90, 0), (90, HEIGHT), 120, 2)  # the margin rule
    assert detector(page) == []
    write(page, "a + b = c", 300, 118)  # written on a rule, as people do
    boxes = detector(page)
    assert len(boxes) == 1
    assert boxes[0].width < 0.5 * WIDTH and boxes[0].height < 70


def test_table_border_gives_no_boxes(detector):
    page = blank()
    for y in (300, 380, 460):
        cv2.line(page, (150, y), (750, y), 40, 2)
    for x in (150, 450, 750):
        cv2.line(page, (x, 300), (x, 460), 40, 2)
    assert detector(page) == []


def test_blank_page_gives_no_boxes(detector):
    rng = np.random.default_rng(0)
    noisy = blank().astype(np.float32) + rng.normal(0, 6, (HEIGHT, WIDTH))
    shadow = np.linspace(0.55, 1.0, WIDTH, dtype=np.float32)[None, :]  # uneven light
    page = np.clip(noisy * shadow, 0, 255).astype(np.uint8)
    assert detector(page) == []
    assert detector(np.full((HEIGHT, WIDTH), 255, np.uint8)) == []


def test_prose_line_gives_no_box(detector):
    page = blank()
    write(page, "Solve the following equations below.", 80, 300, scale=1.2)
    write(page, "5x + 2 = 17", 300, 600)
    boxes = detector(page)
    assert len(boxes) == 1 and boxes[0].y0 > 500


def test_page_rotated_by_3_degrees_gives_the_same_boxes(detector):
    page = blank()
    write(page, "x + 1 = 2", 120, 400)
    write(page, "y - 3 = 0", 620, 400)
    fraction(page, "a + b", "c - d", 300, 800)
    write(page, "3x + 4y = 12", 250, 1150)
    straight = detector(page)
    matrix = cv2.getRotationMatrix2D((WIDTH / 2, HEIGHT / 2), 3.0, 1.0)
    rotated = cv2.warpAffine(page, matrix, (WIDTH, HEIGHT), borderValue=235)
    found = detector(rotated)
    assert len(found) == len(straight) == 4
    for before, after in zip(straight, found, strict=True):
        # Each straight box, rotated, must match the box found on the rotated page.
        corners = np.array(
            [[before.x0, before.y0], [before.x1, before.y0], [before.x0, before.y1],
             [before.x1, before.y1]], np.float64,
        )  # fmt: skip
        moved = corners @ matrix[:, :2].T + matrix[:, 2]
        x0, y0 = moved.min(axis=0)
        x1, y1 = moved.max(axis=0)
        assert iou(after, (x0, y0, x1, y1)) > 0.7


def test_color_page_gives_the_same_boxes_as_gray(detector):
    page = blank()
    write(page, "3x + 4y = 12", 300, 700)
    assert detector(cv2.cvtColor(page, cv2.COLOR_GRAY2RGB)) == detector(page)


def test_huge_page_is_handled_within_limits_and_refused_past_them():
    detector = FormulaDetector(max_pixels=2000 * 1500)
    page = np.full((2000, 1500), 235, np.uint8)
    write(page, "3x + 4y = 12", 400, 1000, scale=2.5)
    assert len(detector(page)) == 1
    with pytest.raises(PageTooLargeError, match="max_pixels"):
        detector(np.full((2001, 1500), 235, np.uint8))
    assert issubclass(PageTooLargeError, ValueError)


def test_thresholds_are_constructor_arguments_shown_by_repr():
    detector = FormulaDetector(ink_contrast=0.3, min_score=0.5)
    assert "ink_contrast=0.3" in repr(detector) and "min_score=0.5" in repr(detector)
