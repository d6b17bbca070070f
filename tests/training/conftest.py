"""Tiny data sets drawn by the tests, in each layout the readers accept."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

FORMULAS = ["x ^ { 2 }", r"\frac { a } { b }", "a + b", "( 3 )"]


def draw_formula_image(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    image = np.full((40, 120), 255, np.uint8)
    for _ in range(4):
        x, y = int(rng.integers(5, 100)), int(rng.integers(5, 30))
        cv2.line(image, (x, y), (x + 12, y + 6), 0, 2)
    cv2.imwrite(str(path), image)


@pytest.fixture
def latex_ocr_folder(tmp_path: Path) -> Path:
    """A Data-for-LaTeX_OCR folder: 4 good rows, one unknown image, one bad formula index."""
    (tmp_path / "images" / "images_train").mkdir(parents=True)
    (tmp_path / "formulas").mkdir()
    (tmp_path / "matching").mkdir()
    for i in range(len(FORMULAS)):
        draw_formula_image(tmp_path / "images" / "images_train" / f"{i}.png", i)
    (tmp_path / "formulas" / "train.formulas.norm.txt").write_text("\n".join(FORMULAS) + "\n")
    rows = [f"{i}.png {i}" for i in range(len(FORMULAS))] + ["missing.png 0", "0.png 99"]
    (tmp_path / "matching" / "train.matching.txt").write_text("\n".join(rows) + "\n")
    return tmp_path


@pytest.fixture
def inkml_folder(tmp_path: Path) -> Path:
    """Three InkML files: two good ones, one broken."""
    folder = tmp_path / "ink"
    folder.mkdir()
    template = (
        '<ink xmlns="http://www.w3.org/2003/InkML">'
        '<annotation type="truth">$ {truth} $</annotation>'
        "<trace>{trace}</trace><trace>10 0, 10 20</trace></ink>"
    )
    (folder / "a.inkml").write_text(template.format(truth="x^2", trace="0 0, 5 10, 8 20"))
    (folder / "b.inkml").write_text(template.format(truth=r"\frac{a}{b}", trace="0 5, 20 5"))
    (folder / "broken.inkml").write_text("<ink><trace>1 2,")
    return folder
