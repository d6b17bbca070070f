"""Documents to page images: PDFs rendered with PyMuPDF, images decoded with OpenCV.

Every input is untrusted. Problems with the whole document (missing, empty, not what its name
says, encrypted, too large) raise ``InputError``; problems with one page (too many pixels, a
render failure, an unreadable TIFF frame) come back as that page's ``error`` so the other pages
still go on.

Usage:
    >>> for page in rasterize_pdf("scan.pdf", dpi=200, limits=InputLimits()):
    ...     print(page.index, page.error or page.image.shape)
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pymupdf

from segmentation.detector import Box
from segmentation.text_layer import formula_boxes, prose_boxes

PDF_SUFFIXES = frozenset({".pdf"})
TIFF_SUFFIXES = frozenset({".tif", ".tiff"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"}) | TIFF_SUFFIXES
SUPPORTED_SUFFIXES = PDF_SUFFIXES | IMAGE_SUFFIXES


class InputError(Exception):
    """A document that cannot be read at all. Permanent: retrying will not help."""


@dataclass(frozen=True)
class InputLimits:
    """Caps that keep one hostile or odd input from exhausting a worker."""

    max_file_bytes: int = 512 * 2**20  # larger files are refused before any parsing
    max_pages: int = 2000  # pages (PDF) or frames (TIFF) per document
    # An A4 page at 600 dpi is 35 Mpx; odd PDFs declare poster-sized pages that would take
    # gigabytes to render, so they are refused per page before rendering.
    max_page_pixels: int = 40_000_000
    min_page_side: int = 16  # pixels; anything smaller cannot hold a readable formula


@dataclass
class RasterPage:
    """One page as pixels, or the reason it has none.

    Attributes:
        index: 0-based page (or TIFF frame) number.
        image: ``H x W`` uint8 gray, dark ink on white; ``None`` when ``error`` is set.
        error: why this page could not be rasterized.
        warnings: non-fatal problems MuPDF reported while rendering this page.
        text_boxes: formula boxes from a born-digital PDF page's text layer; ``None`` for
            scans and images, whose formulas the image detector has to find.
        prose_boxes: printed prose words of a PDF page that has both a text layer and
            images: regions the image detector finds there are text, not formulas.
    """

    index: int
    image: np.ndarray | None
    width: int = 0
    height: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    text_boxes: list[Box] | None = None
    prose_boxes: list[Box] = field(default_factory=list)


@dataclass
class SourceInfo:
    """What opening a document found out, before any page is rendered."""

    kind: str  # "pdf" or "image"
    page_count: int
    warnings: list[str] = field(default_factory=list)


def source_kind(path: str | Path) -> str:
    """``"pdf"`` or ``"image"`` from the file name; ``InputError`` for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix in PDF_SUFFIXES:
        return "pdf"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
    raise InputError(
        f"unsupported file type {suffix or '(no extension)'!r}; supported: {supported}"
    )


def _check_file(path: Path, limits: InputLimits) -> None:
    if not path.exists():
        raise InputError("file not found")
    if not path.is_file():
        raise InputError("not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise InputError("file is empty (0 bytes)")
    if size > limits.max_file_bytes:
        raise InputError(f"file is {size} bytes, over the limit of {limits.max_file_bytes}")


def _mupdf_warnings() -> list[str]:
    # MuPDF collects warnings globally; reading them resets the buffer for the next step.
    text = pymupdf.TOOLS.mupdf_warnings(reset=True)
    return [f"mupdf: {line}" for line in text.splitlines() if line.strip()]


def _open_pdf(path: Path, limits: InputLimits, password: str | None) -> pymupdf.Document:
    """Open a PDF after checking that it is one; the caller closes it."""
    _check_file(path, limits)
    with open(path, "rb") as handle:
        head = handle.read(1024)
    # PyMuPDF sniffs content and would happily open an image or text named .pdf.
    if b"%PDF-" not in head:
        raise InputError("not a PDF: no %PDF- header in the first 1024 bytes")
    # Errors go into the JSON warnings instead of cluttering stderr.
    pymupdf.TOOLS.mupdf_display_errors(False)
    _mupdf_warnings()
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except (RuntimeError, ValueError) as exc:  # FileDataError, EmptyFileError
        raise InputError(f"cannot open PDF (damaged or truncated?): {exc}") from exc
    try:
        if not doc.is_pdf:
            raise InputError("not a PDF: MuPDF opened it as another format")
        if doc.needs_pass:
            if password is None:
                raise InputError("PDF is encrypted: a password is required (--password)")
            if not doc.authenticate(password):
                raise InputError("PDF is encrypted and the password given does not open it")
        if doc.page_count == 0:
            raise InputError("PDF has no pages (damaged or truncated?)")
        if doc.page_count > limits.max_pages:
            raise InputError(
                f"PDF has {doc.page_count} pages, over the limit of {limits.max_pages}"
            )
    except BaseException:
        doc.close()
        raise
    return doc


def _pdf_warnings(doc: pymupdf.Document) -> list[str]:
    warnings = _mupdf_warnings()
    if doc.is_repaired:
        warnings.insert(0, "PDF was damaged and repaired by MuPDF: some content may be missing")
    return warnings


def _render_page(
    doc: pymupdf.Document, index: int, dpi: int, limits: InputLimits, text_layer: bool
) -> RasterPage:
    page = doc[index]
    # Size from the page box before rendering: a huge declared page must not be allocated.
    width = math.ceil(page.rect.width * dpi / 72)
    height = math.ceil(page.rect.height * dpi / 72)
    if width * height > limits.max_page_pixels:
        error = (
            f"page is {width} x {height} px at {dpi} dpi, over the limit of "
            f"{limits.max_page_pixels} pixels (lower --dpi)"
        )
        return RasterPage(index, None, width, height, error=error)
    if min(width, height) < limits.min_page_side:
        error = f"page is {width} x {height} px, too small to hold a formula"
        return RasterPage(index, None, width, height, error=error)
    try:
        pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY, alpha=False)
    except (RuntimeError, ValueError) as exc:
        return RasterPage(index, None, width, height, error=f"cannot render page: {exc}")
    # Rows may be padded: reshape with the stride, then cut to the width. The copy matters:
    # samples_mv points into the pixmap's memory, which MuPDF frees with the pixmap.
    rows = np.frombuffer(pix.samples_mv, np.uint8).reshape(pix.height, pix.stride)
    image = rows[:, : pix.width].copy()
    text_boxes, prose = None, []
    # A page with images is (or contains) a scan: its text layer, if any, is OCR output or
    # captions and misses handwritten formulas, so only image-free pages trust the text layer
    # for formulas; on the others it only marks the printed prose the detector must skip.
    if text_layer and not page.get_images():
        text_boxes = formula_boxes(page, dpi)
    elif text_layer:
        prose = prose_boxes(page, dpi)
    return RasterPage(
        index,
        image,
        pix.width,
        pix.height,
        warnings=_mupdf_warnings(),
        text_boxes=text_boxes,
        prose_boxes=prose,
    )


def rasterize_pdf(
    path: str | Path,
    dpi: int,
    limits: InputLimits,
    password: str | None = None,
    pages: Iterable[int] | None = None,
    text_layer: bool = False,
) -> Generator[RasterPage, None, None]:
    """Render PDF pages to gray images, one page at a time.

    Args:
        path: the PDF file.
        dpi: render resolution; page pixels = page points * dpi / 72.
        limits: size caps; pages over ``max_page_pixels`` get an error instead of an image.
        password: opens encrypted PDFs.
        pages: 0-based page numbers to render (default: all, in order).
        text_layer: also read formula boxes from born-digital pages' text (``text_boxes``).

    Yields:
        ``RasterPage`` per requested page.

    Raises:
        InputError: the file is missing, empty, not a PDF, encrypted or over the limits.
    """
    doc = _open_pdf(Path(path), limits, password)
    try:
        _mupdf_warnings()  # open/repair messages belong to the document, not to page 0
        for index in range(doc.page_count) if pages is None else pages:
            if not 0 <= index < doc.page_count:
                raise IndexError(f"page {index} out of range (document has {doc.page_count})")
            yield _render_page(doc, index, dpi, limits, text_layer)
    finally:
        doc.close()
        # MuPDF keeps up to 256 MB of decoded resources cached across documents.
        pymupdf.TOOLS.store_shrink(100)


def _to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 gray from what ``IMREAD_UNCHANGED`` returns (8/16 bit, gray/BGR/BGRA)."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[:, :, 0]
    gray = cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_BGR2GRAY)
    if image.shape[2] == 4:
        # Transparent pixels are paper: composite onto white, not onto black.
        alpha = image[:, :, 3].astype(np.float32) / 255.0
        gray = (gray * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return gray


def _check_image(path: Path, limits: InputLimits) -> int:
    """Frames in an image file (after the file checks); ``InputError`` if OpenCV cannot read it."""
    _check_file(path, limits)
    if Path(path).suffix.lower() not in TIFF_SUFFIXES:
        return 1
    count = cv2.imcount(str(path))  # 0 when OpenCV cannot parse the header
    if count == 0:
        raise InputError("cannot read image: not a TIFF or damaged")
    if count > limits.max_pages:
        raise InputError(f"TIFF has {count} frames, over the limit of {limits.max_pages}")
    return count


def _image_page(index: int, image: np.ndarray | None, limits: InputLimits) -> RasterPage:
    if image is None:
        return RasterPage(index, None, error="cannot decode image: damaged or not an image")
    height, width = image.shape[:2]
    # OpenCV caps decoding at 2^30 pixels itself; ours is much lower and applies after decoding.
    if width * height > limits.max_page_pixels:
        error = f"image is {width} x {height} px, over the limit of {limits.max_page_pixels} pixels"
        return RasterPage(index, None, width, height, error=error)
    if min(width, height) < limits.min_page_side:
        error = (
            f"image is {width} x {height} px, too small to hold a formula "
            f"(minimum {limits.min_page_side} px a side)"
        )
        return RasterPage(index, None, width, height, error=error)
    return RasterPage(index, _to_gray(image), width, height)


def load_images(
    path: str | Path, limits: InputLimits, pages: Iterable[int] | None = None
) -> Generator[RasterPage, None, None]:
    """Decode a PNG, JPEG or TIFF into gray pages; each TIFF frame is one page.

    Args:
        path: the image file.
        limits: size caps; images outside them get a per-page error.
        pages: 0-based frame numbers (default: all).

    Yields:
        ``RasterPage`` per requested frame.

    Raises:
        InputError: the file is missing, empty, unreadable or has too many frames.
    """
    path = Path(path)
    count = _check_image(path, limits)
    for index in range(count) if pages is None else pages:
        if not 0 <= index < count:
            raise IndexError(f"frame {index} out of range (image has {count})")
        if count == 1:
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        else:
            ok, frames = cv2.imreadmulti(str(path), index, 1, flags=cv2.IMREAD_UNCHANGED)
            image = frames[0] if ok and frames else None
        if image is None and index == 0 and count == 1:
            raise InputError("cannot decode image: damaged or not a PNG/JPEG/TIFF")
        yield _image_page(index, image, limits)


def inspect_source(
    path: str | Path, limits: InputLimits, password: str | None = None
) -> SourceInfo:
    """Check a document and count its pages without rendering any.

    Raises:
        InputError: the document cannot be read at all.
    """
    path = Path(path)
    if source_kind(path) == "image":
        return SourceInfo("image", _check_image(path, limits))
    doc = _open_pdf(path, limits, password)
    try:
        return SourceInfo("pdf", doc.page_count, _pdf_warnings(doc))
    finally:
        doc.close()


def count_pages(path: str | Path, limits: InputLimits, password: str | None = None) -> int:
    """Pages (PDF) or frames (image) in a document; ``InputError`` if it cannot be read."""
    return inspect_source(path, limits, password).page_count


def load_page(
    path: str | Path,
    index: int,
    dpi: int,
    limits: InputLimits,
    password: str | None = None,
    text_layer: bool = False,
) -> RasterPage:
    """One page of any supported document (what a per-page task needs).

    Raises:
        InputError: the document cannot be read at all.
    """
    if source_kind(path) == "pdf":
        pages = rasterize_pdf(path, dpi, limits, password, [index], text_layer)
    else:
        pages = load_images(path, limits, pages=[index])
    with closing(pages):  # closes the PDF now, not whenever the generator is collected
        return next(pages)
