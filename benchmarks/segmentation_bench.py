"""Page benchmark for the formula detector: synthetic exam pages with known formula boxes.

Builds a seeded set of A4 pages at 200 DPI: handwritten formulas (the ``hand`` validation
images) and printed ones (matplotlib mathtext of the same labels) at varied sizes and places,
several per page, some preceded by exercise numbers, with distractors (a line of prose, ruled
lines, a table border) and camera/scanner damage (uneven light, edge shadow, small rotation,
blur, noise, JPEG). Prints JSON: detection precision/recall at IoU 0.5 and 0.75, detector time
per page on one core, and recognizer exact-match rates on detected vs perfect crops.

Usage (from the repository root):
    nice -n 10 python benchmarks/segmentation_bench.py --pages 20 --out /tmp/seg_overlays
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ocr_model.vocab import canonical_latex  # noqa: E402
from segmentation import Box, FormulaDetector  # noqa: E402

PAGE_HEIGHT, PAGE_WIDTH = 2339, 1654  # A4 at 200 DPI
MARGIN = 110  # page pixels kept free at every edge
PROSE = [
    "Solve the following equations and show your working.",
    "Simplify each expression as far as possible.",
    "Find the value of every unknown below.",
    "Answer all questions in the space provided.",
]
LABELS = ["1.", "2.", "3.", "12.", "(a)", "(b)", "(c)", "(iv)"]


@dataclass
class Formula:
    image: np.ndarray  # uint8 gray, black ink on white, cropped to ink
    latex: str


@dataclass
class Page:
    image: np.ndarray  # uint8 gray, the finished page
    boxes: list[tuple[int, int, int, int]]  # ground truth x0, y0, x1, y1 (exclusive)
    labels: list[str]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=REPO.parent / "shared/data/hand",
        help="hand data set root (Data-for-LaTeX_OCR layout)",
    )
    parser.add_argument("--split", default="val", help="which split's formulas to draw")
    parser.add_argument("--pages", type=int, default=20, help="pages to generate")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the page set")
    parser.add_argument("--out", type=Path, default=None, help="folder for overlay PNGs")
    parser.add_argument("--overlays", type=int, default=4, help="overlay PNGs to save")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="recognizer checkpoint; without it, model_data/recognizer.pt",
    )
    parser.add_argument(
        "--no-recognition", action="store_true", help="measure detection only (no exprate keys)"
    )
    return parser.parse_args(argv)  # fmt: skip


def load_hand(root: Path, split: str) -> list[Formula]:
    """Handwritten formulas with their labels (RGBA composited on white paper)."""
    from ocr_model.preprocessing import to_gray

    lines = (root / f"formulas/{split}.formulas.norm.txt").read_text().splitlines()
    formulas = []
    for row in (root / f"matching/{split}.matching.txt").read_text().splitlines():
        if not row.strip():
            continue
        name, index = row.split()
        image = cv2.imread(str(root / f"images/images_{split}/{name}"), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise FileNotFoundError(root / f"images/images_{split}/{name}")
        if image.ndim == 3 and image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
        formulas.append(Formula(crop_to_ink(to_gray(image)), lines[int(index)]))
    return formulas


def crop_to_ink(gray: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(gray < 128)
    return gray[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def mathtext_source(latex: str) -> str:
    """Space-tokenized label -> mathtext source (mathtext drops scripts after ``x _ {``)."""
    source, previous = "", ""
    for token in latex.split():
        # A space is only needed to end a control word before a letter (``\\alpha n``).
        if re.fullmatch(r"\\[A-Za-z]+", previous) and token[0].isalpha():
            source += " "
        source += token
        previous = token
    return source


def typeset(text: str, fontsize: float, family: str = "DejaVu Sans") -> np.ndarray:
    """``text`` (mathtext inside ``$...$``) typeset by matplotlib at 200 DPI, cropped to ink."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 3), dpi=200)
    figure.text(0.02, 0.4, text, fontsize=fontsize, family=family)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=200, facecolor="white")
    image = cv2.imdecode(np.frombuffer(buffer.getvalue(), np.uint8), cv2.IMREAD_GRAYSCALE)
    return crop_to_ink(image)


def render_printed(latex: str, fontsize: float) -> np.ndarray:
    """A label as a printed formula (matplotlib mathtext)."""
    return typeset(f"${mathtext_source(latex)}$", fontsize)


def render_text(text: str, height: int, rng: np.random.Generator) -> np.ndarray:
    """Printed text (prose or an exercise label) with capitals about ``height`` pixels tall."""
    # Capitals are ~0.72 em; one point is 200/72 pixels at 200 DPI.
    family = "DejaVu Serif" if rng.random() < 0.5 else "DejaVu Sans"
    return typeset(text, height / (0.72 * 200 / 72), family)


def paste(page: np.ndarray, owner: np.ndarray, image: np.ndarray, x: int, y: int, ink_id: int):
    """Multiply ``image`` onto the page (ink over lines) and record its ink pixels' owner."""
    h, w = image.shape
    region = page[y : y + h, x : x + w]
    np.multiply(region, image.astype(np.float32) / 255.0, out=region)
    if ink_id:
        owner[y : y + h, x : x + w][image < 128] = ink_id


def make_page(
    hand: list[Formula], rng: np.random.Generator, printed_cache: dict
) -> Page:  # fmt: skip
    """One synthetic exam page with its ground truth."""
    page = np.full((PAGE_HEIGHT, PAGE_WIDTH), rng.uniform(225, 250), np.float32)
    owner = np.zeros(page.shape, np.uint8)
    labels: list[str] = []
    rules: list[int] = []
    if rng.random() < 0.4:  # a ruled notebook page
        spacing = int(rng.integers(60, 90))
        shade = rng.uniform(120, 190)
        rules = list(range(int(rng.integers(80, 160)), PAGE_HEIGHT, spacing))
        for y in rules:
            cv2.line(page, (0, y), (PAGE_WIDTH, y), shade, int(rng.integers(1, 3)))

    def on_rule(y: int, height: int) -> int:
        """Top of a row that starts at ``y`` or lower and whose bottom sits on a rule, as
        people write and print on ruled paper."""
        below = [rule for rule in rules if rule >= y + height]
        return below[0] - height - int(rng.integers(2, 8)) if below else y

    def pick() -> Formula:
        sample = hand[int(rng.integers(len(hand)))]
        if rng.random() < 0.5:
            scale = rng.uniform(0.6, 1.2)
            image = cv2.resize(sample.image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            return Formula(image, sample.latex)
        size = float(rng.choice([12, 14, 16, 20, 24]))
        key = (sample.latex, size)
        if key not in printed_cache:
            printed_cache[key] = render_printed(sample.latex, size)
        return Formula(printed_cache[key], sample.latex)

    y = MARGIN + int(rng.integers(0, 60))
    blocks = ["prose"] + ["table"] * int(rng.random() < 0.5) + ["formula"] * 12
    order = [blocks[0]] + list(rng.permutation(blocks[1:]))
    for kind in order:
        if kind == "prose":
            text = render_text(str(rng.choice(PROSE)), int(rng.integers(22, 34)), rng)
            text = text[:, : PAGE_WIDTH - 2 * MARGIN]
            y = on_rule(y, text.shape[0])
            if y + text.shape[0] > PAGE_HEIGHT - MARGIN:
                break
            paste(page, owner, text, MARGIN, y, 0)
            y += text.shape[0] + int(rng.integers(60, 120))
        elif kind == "table":
            rows, cols = int(rng.integers(2, 4)), int(rng.integers(2, 5))
            cell_w, cell_h = int(rng.integers(150, 300)), int(rng.integers(60, 90))
            if y + rows * cell_h > PAGE_HEIGHT - MARGIN:
                continue
            x0 = MARGIN + int(rng.integers(0, 200))
            x1 = min(PAGE_WIDTH - MARGIN, x0 + cols * cell_w)
            for r in range(rows + 1):
                cv2.line(page, (x0, y + r * cell_h), (x1, y + r * cell_h), 40, 2)
            for c in range(cols + 1):
                x = min(x1, x0 + c * cell_w)
                cv2.line(page, (x, y), (x, y + rows * cell_h), 40, 2)
            y += rows * cell_h + int(rng.integers(60, 120))
        else:
            first = pick()
            row = [first]
            gap = int(rng.uniform(3.5, 6.0) * 40)
            second = pick()
            label = None
            if rng.random() < 0.35:
                label = render_text(str(rng.choice(LABELS)), int(rng.integers(22, 34)), rng)
            used = (label.shape[1] + 60 if label is not None else 0) + first.image.shape[1]
            if rng.random() < 0.4 and used + gap + second.image.shape[1] < PAGE_WIDTH - 2 * MARGIN:
                row.append(second)
            height = max(f.image.shape[0] for f in row)
            y = on_rule(y, height)
            if y + height > PAGE_HEIGHT - MARGIN:
                break
            x = MARGIN + int(rng.integers(0, 40))
            if label is not None:
                top = y + (height - label.shape[0]) // 2
                paste(page, owner, label, x, top, 0)
                x += label.shape[1] + int(rng.integers(30, 70))
            else:
                x += int(rng.integers(0, max(1, PAGE_WIDTH - 2 * MARGIN - used) // 2))
            for formula in row:
                h, w = formula.image.shape
                if x + w > PAGE_WIDTH - MARGIN:
                    break
                labels.append(formula.latex)
                paste(page, owner, formula.image, x, y + (height - h) // 2, len(labels))
                x += w + gap
            y += height + int(rng.integers(50, 130))
    image, owner = damage(page, owner, rng)
    boxes = []
    for ink_id in range(1, len(labels) + 1):
        points = cv2.findNonZero((owner == ink_id).view(np.uint8))
        x, y, w, h = cv2.boundingRect(points)
        boxes.append((x, y, x + w, y + h))
    return Page(image, boxes, labels)


def damage(
    page: np.ndarray, owner: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Camera and scanner damage: light gradient, edge shadow, rotation, blur, noise, JPEG."""
    height, width = page.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xs / width + np.sin(angle) * ys / height + 1) / 2
    light = 1.0 - rng.uniform(0.0, 0.4) * ramp
    if rng.random() < 0.5:  # a page-edge shadow on the left or right
        edge = xs if rng.random() < 0.5 else width - 1 - xs
        light *= 1.0 - 0.6 * np.exp(-edge / rng.uniform(20, 60))
    page = page * light
    rotation = rng.uniform(-3.0, 3.0)
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), rotation, 1.0)
    page = cv2.warpAffine(page, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    owner = cv2.warpAffine(owner, matrix, (width, height), flags=cv2.INTER_NEAREST)
    page = cv2.GaussianBlur(page, (0, 0), rng.uniform(0.3, 1.0))
    page = page + rng.normal(0, rng.uniform(2, 8), page.shape).astype(np.float32)
    image = np.clip(page, 0, 255).astype(np.uint8)
    quality = int(rng.integers(50, 92))
    _, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE), owner


def iou_matrix(found: list[Box], truth: list[tuple[int, int, int, int]]) -> np.ndarray:
    matrix = np.zeros((len(found), len(truth)))
    for i, box in enumerate(found):
        for j, (x0, y0, x1, y1) in enumerate(truth):
            w = min(box.x1, x1) - max(box.x0, x0)
            h = min(box.y1, y1) - max(box.y0, y0)
            if w > 0 and h > 0:
                union = box.width * box.height + (x1 - x0) * (y1 - y0) - w * h
                matrix[i, j] = w * h / union
    return matrix


def match(ious: np.ndarray, threshold: float) -> dict[int, int]:
    """Greedy one-to-one matching, best IoU first: truth index -> found index."""
    pairs = sorted(zip(*np.nonzero(ious >= threshold), strict=True), key=lambda p: -ious[p])
    used_found: set[int] = set()
    matched: dict[int, int] = {}
    for i, j in pairs:
        if i not in used_found and j not in matched:
            used_found.add(i)
            matched[int(j)] = int(i)
    return matched


def overlay(page: Page, found: list[Box]) -> np.ndarray:
    """Truth in green, detections in red with their score."""
    image = cv2.cvtColor(page.image, cv2.COLOR_GRAY2BGR)
    for x0, y0, x1, y1 in page.boxes:
        cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), (0, 180, 0), 3)
    for box in found:
        cv2.rectangle(image, (box.x0, box.y0), (box.x1 - 1, box.y1 - 1), (0, 0, 255), 2)
        cv2.putText(image, f"{box.score:.2f}", (box.x0, box.y0 - 4), cv2.FONT_HERSHEY_SIMPLEX,
                    0.8, (0, 0, 255), 2)  # fmt: skip
    return image


def load_recognizer_or_exit(checkpoint: Path | None):
    from ocr_model import load_recognizer

    default = REPO / "model_data/recognizer.pt"
    if checkpoint is None and not default.exists():
        sys.exit(f"no trained recognizer at {default} yet: pass --checkpoint PATH "
                 "(or --no-recognition to measure detection only)")  # fmt: skip
    return load_recognizer(checkpoint)


def main(args: argparse.Namespace) -> dict:
    cv2.setNumThreads(1)  # the target is per core
    recognizer = None if args.no_recognition else load_recognizer_or_exit(args.checkpoint)
    hand = load_hand(args.data, args.split)
    rng = np.random.default_rng(args.seed)
    detector = FormulaDetector()
    printed_cache: dict = {}
    counts = {0.5: [0, 0, 0], 0.75: [0, 0, 0]}  # matched, found, truth
    times = []
    page_correct = crop_correct = total = 0
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    for index in range(args.pages):
        page = make_page(hand, rng, printed_cache)
        # CPU time of this (single-threaded) process: the machine is shared, wall time is not.
        start = time.process_time()
        found = detector(page.image)
        times.append(time.process_time() - start)
        ious = iou_matrix(found, page.boxes)
        for threshold, count in counts.items():
            count[0] += len(match(ious, threshold))
            count[1] += len(found)
            count[2] += len(page.boxes)
        if args.out is not None and index < args.overlays:
            cv2.imwrite(str(args.out / f"page_{index:03d}.png"), overlay(page, found))
        if recognizer is not None and page.boxes:
            matched = match(ious, 0.5)
            truth_crops = [page.image[y0:y1, x0:x1] for x0, y0, x1, y1 in page.boxes]
            found_crops = [
                page.image[found[i].y0 : found[i].y1, found[i].x0 : found[i].x1]
                for i in matched.values()
            ]
            truth_text = recognizer(truth_crops)
            found_text = dict(zip(matched.keys(), recognizer(found_crops), strict=True))
            for j, label in enumerate(page.labels):
                expected = canonical_latex(label)
                crop_correct += canonical_latex(truth_text[j].latex) == expected
                if j in found_text:
                    page_correct += canonical_latex(found_text[j].latex) == expected
            total += len(page.labels)
        print(f"page {index + 1}/{args.pages}: {len(found)} found, {len(page.boxes)} true",
              file=sys.stderr)  # fmt: skip
    result = {
        "pages": args.pages,
        "formulas": counts[0.5][2],
        "precision_iou50": counts[0.5][0] / max(1, counts[0.5][1]),
        "recall_iou50": counts[0.5][0] / max(1, counts[0.5][2]),
        "precision_iou75": counts[0.75][0] / max(1, counts[0.75][1]),
        "recall_iou75": counts[0.75][0] / max(1, counts[0.75][2]),
        "ms_per_page": 1000 * float(np.mean(times)),
        "ms_per_page_p95": 1000 * float(np.percentile(times, 95)),
    }
    if recognizer is not None:
        result["page_exprate"] = page_correct / max(1, total)
        result["crop_exprate"] = crop_correct / max(1, total)
    result = {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(parse_args())
