"""Inputs for the pipeline and CLI tests, drawn here so every test shows what it feeds in.

Good inputs: a PDF with printed formulas and a blank page (PyMuPDF), formula images drawn with
OpenCV (PNG, JPEG, a 2-frame TIFF). Bad inputs: one file per way a document can be unreadable.
Pages are small (A6 at 100 dpi in the tests) so the whole set runs in seconds.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pymupdf
import pytest

from ocr_model import PredictorConfig, Recognizer, load_recognizer
from segmentation import FormulaDetector
from worker.pipeline import PipelineSettings

FORMULAS = ["x^2 + y^2 = z^2", "a/b - 3 = c", "f(x) = 2x + 1"]
TEST_DPI = 100


def draw_formula_image(text: str, size: tuple[int, int] = (120, 420)) -> np.ndarray:
    """A white gray image with one line of dark text, like a cropped printed formula."""
    image = np.full(size, 255, np.uint8)
    cv2.putText(image, text, (15, size[0] // 2 + 15), cv2.FONT_HERSHEY_SIMPLEX, 1.3, 0, 3)
    return image


def write_pdf(path: Path, pages: list[list[str]], page_size: tuple[float, float] = (298, 420)):
    """A "scanned" PDF: one page per list of formulas, each formula an embedded image (so the
    image detector finds them, not the text layer); an empty list is a blank page. A6 default."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = pymupdf.open()
    try:
        for formulas in pages:
            page = doc.new_page(width=page_size[0], height=page_size[1])
            for line, text in enumerate(formulas):
                _, png = cv2.imencode(".png", draw_formula_image(text))
                rect = pymupdf.Rect(20, 30 + 70 * line, 230, 90 + 70 * line)
                page.insert_image(rect, stream=png.tobytes())
        doc.save(path)
    finally:
        doc.close()
    return path


@pytest.fixture
def make_pdf():
    """``write_pdf`` for tests that need a PDF of their own."""
    return write_pdf


@pytest.fixture
def formulas() -> list[str]:
    return list(FORMULAS)


@pytest.fixture(scope="session")
def recognizer(tiny_checkpoint: Path) -> Recognizer:
    # One thread: on a loaded 2-core machine, two torch threads wait on each other and a page
    # takes seconds instead of a tenth of one.
    return load_recognizer(tiny_checkpoint, PredictorConfig(num_threads=1))


@pytest.fixture(scope="session")
def detector() -> FormulaDetector:
    return FormulaDetector()


@pytest.fixture
def settings() -> PipelineSettings:
    return PipelineSettings(dpi=TEST_DPI)


@pytest.fixture
def formula_pdf(tmp_path: Path) -> Path:
    """Page 1: three printed formulas; page 2: blank."""
    return write_pdf(tmp_path / "worksheet.pdf", [FORMULAS, []])


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """``a.png``, ``b.jpg`` and a 2-frame ``c.tiff``, each showing formulas."""
    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), draw_formula_image(FORMULAS[0]))
    cv2.imwrite(str(folder / "b.jpg"), draw_formula_image(FORMULAS[1]))
    frames = [draw_formula_image(FORMULAS[2]), draw_formula_image(FORMULAS[0])]
    assert cv2.imwritemulti(str(folder / "c.tiff"), frames)
    return folder


@pytest.fixture
def bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Name -> (unreadable file, words its error must contain)."""
    folder = tmp_path / "bad"
    folder.mkdir()
    empty = folder / "empty.pdf"
    empty.touch()
    text = folder / "text.pdf"
    text.write_text("this is not a PDF\n")
    good = write_pdf(tmp_path / "source.pdf", [FORMULAS])
    truncated = folder / "truncated.pdf"
    truncated.write_bytes(good.read_bytes()[:120])  # the header and a few objects, no pages
    encrypted = folder / "encrypted.pdf"
    doc = pymupdf.open(good)
    try:
        doc.save(encrypted, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="secret", owner_pw="o")
    finally:
        doc.close()
    tiny = folder / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((1, 1), np.uint8))
    return {
        "missing": (folder / "missing.pdf", "file not found"),
        "empty": (empty, "empty (0 bytes)"),
        "text_named_pdf": (text, "not a PDF"),
        "truncated": (truncated, "damaged or truncated"),
        "encrypted": (encrypted, "encrypted"),
        "one_pixel": (tiny, "1 x 1 px"),
    }
