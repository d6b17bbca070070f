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


def test_tex_fonts_keep_a_display_fraction_whole(tmp_path) -> None:
    """A PDF typeset in Computer Modern (matplotlib's TeX fonts: cmmi10, cmr10, cmex10, cmsy10)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context({"mathtext.fontset": "cm"}):
        figure = plt.figure(figsize=(8.27, 11.69))  # A4
        figure.text(0.1, 0.9, "Exercise 1. Simplify the expression below.", fontsize=12)
        figure.text(0.1, 0.8, r"$\frac{x^{2}+1}{\sqrt{y}} = \alpha_{n}$", fontsize=16)
        figure.text(0.1, 0.7, r"Let $x \leq 2$ and solve for y.", fontsize=12)
        figure.savefig(tmp_path / "tex.pdf")
        plt.close(figure)
    with pymupdf.open(tmp_path / "tex.pdf") as doc:
        page = doc[0]
        boxes = formula_boxes(page, DPI)
        ink = rendered_ink(page)
    assert boxes is not None and len(boxes) == 2
    display, inline = boxes
    # All ink of the display formula's band (fraction bar, root, scripts) lies inside its box.
    band = ink[display.y0 - 10 : display.y1 + 10]
    ys, xs = np.nonzero(band)
    assert display.x0 - 2 <= xs.min() and xs.max() < display.x1 + 2
    assert ys.min() >= 10 - 2 and ys.max() < display.y1 - display.y0 + 10 + 2
    # The inline formula is "x <= 2" only: the prose around it stays out.
    words = ink[inline.y0 : inline.y1]
    assert words[:, : inline.x0 - 3].any() and words[:, inline.x1 + 3 :].any()
    assert inline.width < 0.25 * ink.shape[1]
