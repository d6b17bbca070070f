"""Inputs for the pipeline and CLI tests, drawn here so every test shows what it feeds in.

Good inputs: a "scanned" PDF with formulas typeset by matplotlib mathtext (embedded as images)
and a blank page (PyMuPDF); small photographed pages with one formula each (PNG, JPEG, a 2-frame
TIFF). Bad inputs: one file per way a document can be unreadable. Pages are small (A6 at
100 dpi) so the whole set runs in seconds.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pymupdf
import pytest
from matplotlib import mathtext

from ocr_model import PredictorConfig, Recognizer, load_recognizer
from segmentation import FormulaDetector
from worker.pipeline import PipelineSettings

FORMULAS = [r"x^2 + y^2 = z^2", r"\frac{a}{b} - 3 = c", r"\sqrt{x} + 1 = 2"]
TEST_DPI = 100
MATH_DPI = 200  # formulas are typeset at this resolution


def typeset(formula: str) -> np.ndarray:
    """A printed formula: matplotlib mathtext as a tight gray crop (dark ink on white)."""
    buffer = io.BytesIO()
    mathtext.math_to_image(f"${formula}$", buffer, dpi=MATH_DPI, format="png")
    rgba = cv2.imdecode(np.frombuffer(buffer.getvalue(), np.uint8), cv2.IMREAD_UNCHANGED)
    alpha = rgba[:, :, 3].astype(np.float32) / 255.0
    gray = cv2.cvtColor(rgba[:, :, :3], cv2.COLOR_BGR2GRAY).astype(np.float32)
    return (gray * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)


def draw_formula_image(formula: str) -> np.ndarray:
    """A small photographed page: one formula with white paper around it."""
    page = np.full((300, 500), 255, np.uint8)
    ink = typeset(formula)
    page[100 : 100 + ink.shape[0], 60 : 60 + ink.shape[1]] = ink
    return page


def write_pdf(path: Path, pages: list[list[str]], page_size: tuple[float, float] = (298, 420)):
    """A "scanned" PDF: one page per list of formulas, each formula an embedded image (so the
    image detector finds them, not the text layer); an empty list is a blank page. A6 default.
    Formulas keep their typeset pixel size when the page is rendered at ``TEST_DPI``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = pymupdf.open()
    try:
        for formulas in pages:
            page = doc.new_page(width=page_size[0], height=page_size[1])
            for line, formula in enumerate(formulas):
                ink = typeset(formula)
                _, png = cv2.imencode(".png", ink)
                top = 60 + 90 * line
                height, width = (side * 72 / TEST_DPI for side in ink.shape)
                page.insert_image(
                    pymupdf.Rect(40, top, 40 + width, top + height), stream=png.tobytes()
                )
        doc.save(path)
    finally:
        doc.close()
    return path


@pytest.fixture
def without_timings() -> Callable[[dict], dict]:
    """A result dict without its ``timings_ms``: the part two runs of a document must share."""

    def strip(data: dict) -> dict:
        data = json.loads(json.dumps(data))
        data.pop("timings_ms")
        for page in data["pages"]:
            page.pop("timings_ms")
        return data

    return strip


@pytest.fixture
def make_pdf():
    """``write_pdf`` for tests that need a PDF of their own."""
    return write_pdf


@pytest.fixture
def formulas() -> list[str]:
    return list(FORMULAS)


@pytest.fixture
def recognizer(tiny_checkpoint: Path) -> Recognizer:
    # One thread: on a loaded 2-core machine, two torch threads wait on each other and a page
    # takes a minute instead of a tenth of a second. Built per test because the thread count is
    # process-wide and other tests' recognizers change it.
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
