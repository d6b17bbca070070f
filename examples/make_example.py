"""Make ``examples/sample.pdf``: a printed worksheet page and a handwritten "exam scan" page.

Page 1 is a born-digital worksheet: prose in PDF text plus formulas typeset with matplotlib's
mathtext (Computer Modern) and embedded as images. Page 2 is a photographed exam: handwritten
formulas from the ``hand`` validation split (CROHME-derived, CC BY-NC-SA 3.0) on a white page,
slightly rotated, noisy, blurred and JPEG-compressed, embedded as one full-page image like a
scanner would. ``sample.labels.json`` lists the true LaTeX of every formula in page order, in
the canonical tokens the recognizer writes (``\\left(`` becomes ``(``), so strings compare.

Reproduce the committed files (deterministic apart from the PDF's file id):
    python examples/make_example.py
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pymupdf
from matplotlib import mathtext

from ocr_model.vocab import canonical_latex

EXAMPLES = Path(__file__).resolve().parent
DEFAULT_HAND = EXAMPLES.parent.parent / "shared" / "data" / "hand"
A4 = (595, 842)  # points

# (mathtext source, canonical LaTeX tokens as the recognizer writes them)
PRINTED = [
    (r"x^{2}+y^{2}=z^{2}", "x ^ { 2 } + y ^ { 2 } = z ^ { 2 }"),
    (r"\frac{a+b}{2}", r"\frac { a + b } { 2 }"),
    (r"\sqrt{x-1}=3", r"\sqrt { x - 1 } = 3"),
    (
        r"\sum_{i=1}^{n} i=\frac{n(n+1)}{2}",
        r"\sum _ { i = 1 } ^ { n } i = \frac { n ( n + 1 ) } { 2 }",
    ),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--hand", type=Path, default=DEFAULT_HAND, help="the hand data set")
    parser.add_argument(
        "--images",
        default="0,2,4,9,13,21",
        help="comma-separated validation image numbers for the exam page (at most 10)",
    )
    parser.add_argument("--out", type=Path, default=EXAMPLES / "sample.pdf")
    parser.add_argument("--scan-dpi", type=int, default=110, help="resolution of the exam scan")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def render_mathtext(source: str, dpi: int = 300) -> bytes:
    """A PNG of a formula typeset by matplotlib (no LaTeX installation needed)."""
    matplotlib.rcParams["mathtext.fontset"] = "cm"
    buffer = io.BytesIO()
    mathtext.math_to_image(f"${source}$", buffer, dpi=dpi, format="png")
    return buffer.getvalue()


def worksheet_page(doc: pymupdf.Document) -> list[str]:
    """Page 1; returns its formulas' LaTeX in reading order."""
    page = doc.new_page(width=A4[0], height=A4[1])
    page.insert_text((72, 90), "Worksheet 3: algebra warm-up", fontsize=18)
    page.insert_text((72, 120), "Simplify or solve each of the following.", fontsize=11)
    y = 170
    for number, (source, _) in enumerate(PRINTED, start=1):
        png = render_mathtext(source)
        width, height = pymupdf.Pixmap(png).width, pymupdf.Pixmap(png).height
        scale = 72 / 300 * 1.6  # 300 dpi render shown larger than the 12 pt text
        page.insert_text((72, y + 16), f"{number}.", fontsize=12)
        page.insert_image(pymupdf.Rect(110, y, 110 + width * scale, y + height * scale), stream=png)
        y += max(70, height * scale + 40)
    return [latex for _, latex in PRINTED]


def exam_scan(hand: Path, numbers: list[int], dpi: int, rng: np.random.Generator):
    """Page 2 as a gray image, and its formulas' LaTeX in reading order."""
    formulas = (hand / "formulas" / "val.formulas.norm.txt").read_text().splitlines()
    matching = dict(
        line.split() for line in (hand / "matching" / "val.matching.txt").read_text().splitlines()
    )
    width, height = round(A4[0] * dpi / 72), round(A4[1] * dpi / 72)
    page = np.full((height, width), 255, np.uint8)
    cv2.putText(page, "Exam - Question 2", (80, 110), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 40, 2)
    y, labels = 180, []
    for number in numbers:
        name = f"{number}.png"
        image = cv2.imread(str(hand / "images" / "images_val" / name), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise SystemExit(f"cannot read {name} in {hand}")
        # RGBA ink: composite onto white paper (transparent pixels are paper).
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        gray = cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2GRAY).astype(np.float32)
        ink = (gray * alpha[:, :, 0] + 255.0 * (1.0 - alpha[:, :, 0])).astype(np.uint8)
        scale = (width - 240) / ink.shape[1] * rng.uniform(0.5, 0.7)
        ink = cv2.resize(ink, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        x = int(rng.integers(100, 160))
        if y + ink.shape[0] > height - 60:
            break
        page[y : y + ink.shape[0], x : x + ink.shape[1]] = np.minimum(
            page[y : y + ink.shape[0], x : x + ink.shape[1]], ink
        )
        labels.append(canonical_latex(formulas[int(matching[name])]))
        y += ink.shape[0] + int(rng.integers(40, 70))
    # The look of a phone photo of paper: a slight rotation, uneven light, noise, blur, JPEG.
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), rng.uniform(-2.0, 2.0), 1.0)
    page = cv2.warpAffine(page, matrix, (width, height), borderValue=255).astype(np.float32)
    page *= np.linspace(0.88, 1.0, width, dtype=np.float32)[None, :]
    page += rng.normal(0.0, 6.0, page.shape)
    page = cv2.GaussianBlur(np.clip(page, 0, 255).astype(np.uint8), (3, 3), 0)
    return page, labels


def main(args: argparse.Namespace) -> None:
    numbers = [int(n) for n in args.images.split(",")]
    if len(numbers) > 10:
        raise SystemExit("use at most 10 handwritten images")
    rng = np.random.default_rng(args.seed)
    doc = pymupdf.open()
    try:
        printed = worksheet_page(doc)
        scan, handwritten = exam_scan(args.hand, numbers, args.scan_dpi, rng)
        ok, jpeg = cv2.imencode(".jpg", scan, [cv2.IMWRITE_JPEG_QUALITY, 55])
        if not ok:
            raise SystemExit("cannot encode the exam scan")
        page = doc.new_page(width=A4[0], height=A4[1])
        page.insert_image(page.rect, stream=jpeg.tobytes())
        doc.set_metadata({"title": "formula-ocr sample", "producer": "examples/make_example.py"})
        doc.save(args.out, garbage=4, deflate=True)
    finally:
        doc.close()
    labels = {"pages": [printed, handwritten]}
    labels_path = args.out.with_suffix(".labels.json")
    labels_path.write_text(json.dumps(labels, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB) and {labels_path}")


if __name__ == "__main__":
    main(parse_args())
