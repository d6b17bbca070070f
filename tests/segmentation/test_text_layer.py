"""Formula boxes from a PDF text layer: pages drawn with PyMuPDF, checked against their render."""

from __future__ import annotations

import numpy as np
import pymupdf
import pytest

from segmentation.text_layer import formula_boxes

DPI = 100


@pytest.fixture()
def document():
    doc = pymupdf.open()
    yield doc
    doc.close()


def rendered_ink(page: pymupdf.Page) -> np.ndarray:
    pix = page.get_pixmap(dpi=DPI, colorspace=pymupdf.csGRAY, alpha=False)
    return np.frombuffer(pix.samples, np.uint8).reshape(pix.h, pix.w) < 128


def draw_exercise(page: pymupdf.Page) -> None:
    """A prose line, a sentence with an inline formula in a math (Symbol) font, a display formula
    with an equation number far to the right."""
    page.insert_text((72, 100), "Solve the equations below for every real x.", fontname="helv")
    page.insert_text((72, 140), "where", fontname="helv")
    page.insert_text((112, 140), "a+b=g", fontname="symb")  # Symbol shows it as alpha+beta=gamma
    page.insert_text((160, 140), "holds in 2024.", fontname="helv")
    page.insert_text((200, 220), "p r", fontname="symb", fontsize=16)
    page.insert_text((232, 220), "+ 1 = 2", fontname="helv", fontsize=16)
    page.insert_text((480, 220), "(1)", fontname="helv", fontsize=16)


def test_page_without_text_layer_gives_none(document: pymupdf.Document) -> None:
    page = document.new_page()
    page.draw_rect(pymupdf.Rect(100, 100, 300, 200), color=(0, 0, 0))  # vector art, no text
    assert formula_boxes(page, DPI) is None


def test_prose_only_page_gives_no_boxes(document: pymupdf.Document) -> None:
    page = document.new_page()
    page.insert_text((72, 100), "Homework 3 is due on Monday, 12 May, at 9 am.", fontname="helv")
    assert formula_boxes(page, DPI) == []


def test_math_font_runs_become_boxes_around_their_ink(document: pymupdf.Document) -> None:
    page = document.new_page()
    draw_exercise(page)
    boxes = formula_boxes(page, DPI)
    assert boxes is not None and len(boxes) == 2
    assert all(box.method == "text_layer" and 0.0 <= box.score <= 1.0 for box in boxes)
    inline, display = boxes  # reading order: the inline formula's line comes first
    ink = rendered_ink(page)
    scale = DPI / 72
    # The inline formula covers the Symbol text only, not "where" or "holds in 2024".
    assert 112 * scale - 2 <= inline.x0 and inline.x1 <= 160 * scale + 2
    # The display formula keeps "+ 1 = 2" in a text font but leaves the equation number out.
    assert display.x0 <= 200 * scale + 2 and display.x1 >= 270 * scale
    assert display.x1 < 480 * scale
    for box in boxes:
        assert ink[box.y0 : box.y1, box.x0 : box.x1].any()


def test_boxes_follow_page_rotation(document: pymupdf.Document) -> None:
    page = document.new_page()
    draw_exercise(page)
    upright = formula_boxes(page, DPI)
    page.set_rotation(90)
    rotated = formula_boxes(page, DPI)
    assert upright is not None and rotated is not None and len(rotated) == len(upright) == 2
    ink = rendered_ink(page)
    height = ink.shape[1]  # the rotated render's width is the upright page's height
    for before, after in zip(upright, rotated, strict=True):
        # Turning the page 90 degrees clockwise maps (x, y) to (height - y, x).
        expected = (height - before.y1, before.x0, height - before.y0, before.x1)
        assert np.allclose((after.x0, after.y0, after.x1, after.y1), expected, atol=2)
        assert ink[after.y0 : after.y1, after.x0 : after.x1].any()
