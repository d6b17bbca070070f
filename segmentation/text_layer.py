"""Formula boxes from a born-digital PDF page's text layer (fonts and characters, no pixels).

When a PDF carries its text, the fonts say what is math far more reliably than pixels: TeX
typesets math in CMMI/CMSY/CMEX, Word in Cambria Math, others in STIX or Symbol; and math
symbols (Greek letters, arrows, ∑, ≤ ...) are math whatever the font.

Usage:
    >>> with pymupdf.open("paper.pdf") as doc:
    ...     boxes = formula_boxes(doc[0], dpi=200)  # None: scanned page, use FormulaDetector
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

import pymupdf

from segmentation.detector import Box

# Font names of math fonts: TeX (Computer Modern / AMS / Latin Modern / txfonts / pxfonts),
# OpenType math fonts (Cambria Math, STIX, XITS, Asana, ...), and the Symbol-style fonts.
MATH_FONT = re.compile(
    r"math|cmmi|cmsy|cmex|cmbsy|cmmib|msam|msbm|eufm|eusm|rsfs|wasy|esint|stix|xits|"
    r"txsy|txmi|txex|pxsy|pxmi|pxex|mtpro|mathtime|euclid|symbol|mt ?extra|lucida ?math",
    re.IGNORECASE,
)
# Characters that occur in formulas and in prose alike: they join a formula next to them but
# never start one.
NEUTRAL = set("0123456789()[]{}+-=<>/.,:;'|!^_*~ ")
# Function names typeset upright in text fonts between math characters (``\sin x``).
OPERATOR_WORDS = {
    "sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "lg", "exp", "lim", "max", "min",
    "det", "sup", "inf", "arg", "deg", "dim", "mod", "sinh", "cosh", "tanh", "arcsin",
    "arccos", "arctan", "d", "dx", "dy", "dt",
}  # fmt: skip
TRAILING = set(" ,.;:")  # punctuation after a formula belongs to the sentence
STACK_GAP = 0.6  # numerator/denominator or limits: at most this many line heights apart
MAX_GAP = 1.5  # a wider horizontal gap (line heights) ends a formula: equation numbers


@dataclass
class _Char:
    text: str
    bbox: tuple[float, float, float, float]
    kind: str  # "math", "neutral" or "text"


@dataclass
class _Run:
    """A formula candidate: its box in PDF points and how many of its characters are math."""

    x0: float
    y0: float
    x1: float
    y1: float
    math: int
    total: int

    @classmethod
    def of(cls, chars: list[_Char]) -> _Run:
        return cls(
            min(c.bbox[0] for c in chars),
            min(c.bbox[1] for c in chars),
            max(c.bbox[2] for c in chars),
            max(c.bbox[3] for c in chars),
            sum(c.kind == "math" for c in chars),
            len(chars),
        )

    def absorb(self, other: _Run) -> None:
        self.x0, self.y0 = min(self.x0, other.x0), min(self.y0, other.y0)
        self.x1, self.y1 = max(self.x1, other.x1), max(self.y1, other.y1)
        self.math += other.math
        self.total += other.total


def _is_math_char(char: str) -> bool:
    if not char or char.isascii():
        return False
    code = ord(char)
    return (
        unicodedata.category(char) == "Sm"  # ∑ ∫ ≤ ± × → ...
        or 0x0370 <= code <= 0x03FF  # Greek
        or 0x2070 <= code <= 0x209F  # super- and subscripts
        or 0x2100 <= code <= 0x214F  # letterlike: ℝ ℕ ℓ
        or 0x2190 <= code <= 0x22FF  # arrows, mathematical operators
        or 0x1D400 <= code <= 0x1D7FF  # mathematical alphanumerics
        or char in "²³¹′″·√"
    )


def _classify(char: str, font: str) -> str:
    if _is_math_char(char) or (MATH_FONT.search(font) and not char.isspace()):
        return "math"
    return "neutral" if char in NEUTRAL else "text"


def _words(chars: list[_Char]) -> list[list[_Char]]:
    """Consecutive text characters as words; every other character on its own."""
    words: list[list[_Char]] = []
    for char in chars:
        if char.kind == "text" and words and words[-1][-1].kind == "text":
            words[-1].append(char)
        else:
            words.append([char])
    return words


def _trim(chars: list[_Char]) -> list[_Char]:
    start, end = 0, len(chars)
    while start < end and chars[start].text.isspace():
        start += 1
    while end > start and (chars[end - 1].text in TRAILING or chars[end - 1].text.isspace()):
        end -= 1
    return chars[start:end]


def _line_runs(chars: list[_Char]) -> list[list[_Char]]:
    """Stretches of a text line between prose words that hold at least one math character.

    Digits, operators, operator names (``sin``) and single letters after math join it; a prose
    word or a horizontal gap wider than ``MAX_GAP`` line heights (an equation number at the
    margin) ends a formula. So ``where x is real`` yields just ``x`` and ``sin x + 1`` stays whole.
    """
    runs: list[list[_Char]] = []
    current: list[_Char] = []
    for word in _words(chars):
        text = "".join(c.text for c in word)
        # A lone letter after math is a variable in a text font (``= f(x)``), not prose.
        joins = text in OPERATOR_WORDS or (
            len(text) == 1 and any(c.kind == "math" for c in current)
        )
        prose = word[0].kind == "text" and not joins
        if current and not prose:
            last, first = current[-1].bbox, word[0].bbox
            if first[0] - last[2] > MAX_GAP * (last[3] - last[1]):
                prose = True  # a wide gap separates like a prose word does
        if prose:
            runs.append(current)
            current = [] if word[0].kind == "text" else list(word)
        else:
            current.extend(word)
    runs.append(current)
    return [t for t in map(_trim, runs) if any(c.kind == "math" for c in t)]


def _merge_stacked(runs: list[_Run]) -> list[_Run]:
    """Join runs that overlap horizontally and sit within ``STACK_GAP`` line heights vertically:
    numerator and denominator of a display fraction, limits under a sum, scripts the text
    extractor put on lines of their own."""
    merged: list[_Run] = []
    for run in runs:  # extraction order (``sort=True``) is reading order: keep it
        for other in merged:
            overlap_x = min(run.x1, other.x1) - max(run.x0, other.x0)
            gap_y = run.y0 - other.y1
            height = min(run.y1 - run.y0, other.y1 - other.y0)
            if overlap_x > 0 and gap_y <= STACK_GAP * height:
                other.absorb(run)
                break
        else:
            merged.append(run)
    return merged


def _text_lines(page: pymupdf.Page, visible_only: bool = False) -> Iterator[list[_Char]]:
    """The page's text lines in reading order (PyMuPDF's sorted order), classified characters.

    Args:
        visible_only: leave out invisible text (``alpha`` 0: an OCR layer over a scan).
    """
    flags = pymupdf.TEXTFLAGS_RAWDICT & ~pymupdf.TEXT_PRESERVE_IMAGES
    for block in page.get_text("rawdict", flags=flags, sort=True)["blocks"]:
        for line in block.get("lines", []):
            yield [
                _Char(c["c"], tuple(c["bbox"]), _classify(c["c"], span["font"]))
                for span in line["spans"]
                if not visible_only or span.get("alpha", 255) > 0
                for c in span["chars"]
            ]


def formula_boxes(page: pymupdf.Page, dpi: int) -> list[Box] | None:
    """Formula boxes of a PDF page in pixels of the page rendered at ``dpi``.

    Args:
        page: an open PyMuPDF page.
        dpi: the resolution the pipeline rasterizes the page at (boxes are in those pixels).

    Returns:
        ``None`` when the page has no text layer (a scan: use the image detector), else the
        formulas in reading order (PyMuPDF's sorted text order) with ``method="text_layer"``;
        the score grows with the share of unambiguous math characters (the rest are digits,
        operators and letters in text fonts).
    """
    runs: list[_Run] = []
    has_text = False
    for chars in _text_lines(page):
        has_text = has_text or any(not c.text.isspace() for c in chars)
        runs.extend(_Run.of(run) for run in _line_runs(chars))
    if not has_text:
        return None
    return [
        _pixel_box(page, dpi, run, round(0.6 + 0.4 * run.math / max(1, run.total), 3))
        for run in _merge_stacked(runs)
    ]


def _pixel_box(page: pymupdf.Page, dpi: int, run: _Run, score: float) -> Box:
    """A box in PDF points as a box in pixels of the page rendered at ``dpi``."""
    scale = dpi / 72.0
    # Text coordinates are on the unrotated page; the rendered pixmap shows the rotated page.
    rect = pymupdf.Rect(run.x0, run.y0, run.x1, run.y1) * page.rotation_matrix
    width, height = round(page.rect.width * scale), round(page.rect.height * scale)
    return Box(
        max(0, int(rect.x0 * scale)),
        max(0, int(rect.y0 * scale)),
        min(width, int(rect.x1 * scale) + 1),
        min(height, int(rect.y1 * scale) + 1),
        score,
        "text_layer",
    )


def prose_boxes(page: pymupdf.Page, dpi: int) -> list[Box]:
    """The printed prose words of a page (visible text-font words, not math), in pixels.

    On a page that mixes a text layer with images (a worksheet with pasted formula pictures, a
    scan under a printed header) the image detector cannot tell a printed sentence from a
    formula, and the text layer can. Invisible text (an OCR layer over a scan) is left out: it
    shows nothing printed, and OCR of a handwritten formula must not hide that formula.
    """
    words: list[Box] = []
    for chars in _text_lines(page, visible_only=True):
        for word in _words(chars):
            text = "".join(c.text for c in word)
            if word[0].kind == "text" and len(text) > 1 and text not in OPERATOR_WORDS:
                words.append(_pixel_box(page, dpi, _Run.of(word), 1.0))
    return words


def drop_prose(boxes: list[Box], prose: list[Box], max_cover: float = 0.5) -> list[Box]:
    """The detector's boxes less those mostly covered by printed prose words (``prose_boxes``)."""

    def covered(box: Box) -> float:
        overlap = sum(
            max(0, min(box.x1, w.x1) - max(box.x0, w.x0))
            * max(0, min(box.y1, w.y1) - max(box.y0, w.y0))
            for w in prose
        )
        return overlap / max(1, box.width * box.height)

    return [box for box in boxes if covered(box) <= max_cover]
