"""Save a PNG grid of augmented samples so a person can judge the augmentation by eye.

Each row is one image of a Data-for-LaTeX_OCR folder: the original, then several augmentations.
The augmentations should look like scans and photos of paper while the formula stays readable.

Usage:
    python -m training.augment_grid --data ../shared/data/hand --out grid.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from ocr_model.preprocessing import prepare_crop, to_gray
from training.augment import AugmentConfig, Augmenter

_GAP = 6  # gray pixels between cells


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="Data-for-LaTeX_OCR folder")
    parser.add_argument("--split", default="train", help="reads images/images_{split}/")
    parser.add_argument("--out", type=Path, default=Path("augment_grid.png"))
    parser.add_argument("--rows", type=int, default=8, help="number of source images")
    parser.add_argument("--augmentations", type=int, default=4, help="augmented copies per row")
    parser.add_argument("--cell-height", type=int, default=96, help="display height of a cell")
    parser.add_argument(
        "--network-view", action="store_true",
        help="show what the network sees (prepare_crop at height 64) instead of the paper",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def _cell(gray: np.ndarray, height: int, network_view: bool) -> np.ndarray:
    if network_view:
        ink = prepare_crop(gray, height=64, max_width=1024, stride=8)
        gray = (255 - 255 * ink).astype(np.uint8)
    width = max(1, round(gray.shape[1] * height / gray.shape[0]))
    return cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA)


def main(args: argparse.Namespace) -> None:
    folder = args.data / "images" / f"images_{args.split}"
    paths = sorted(folder.glob("*.png"))
    if not paths:
        raise SystemExit(f"no PNG images in {folder}")
    rng = np.random.default_rng(args.seed)
    chosen = rng.choice(len(paths), size=min(args.rows, len(paths)), replace=False)
    augment = Augmenter(AugmentConfig())
    rows, seconds, count = [], 0.0, 0
    for index in chosen:
        image = cv2.imread(str(paths[index]), cv2.IMREAD_UNCHANGED)
        if image.ndim == 3:  # OpenCV reads BGR(A); to_gray expects RGB(A)
            image = image[..., [2, 1, 0, *range(3, image.shape[2])]]
        gray = to_gray(image)
        cells = [_cell(gray, args.cell_height, args.network_view)]
        for _ in range(args.augmentations):
            start = time.perf_counter()
            augmented = augment(gray, rng)
            seconds += time.perf_counter() - start
            count += 1
            cells.append(_cell(augmented, args.cell_height, args.network_view))
        rows.append(cells)
    columns = [max(row[i].shape[1] for row in rows) for i in range(len(rows[0]))]
    grid = np.full(
        (len(rows) * (args.cell_height + _GAP), sum(columns) + _GAP * len(columns)), 128, np.uint8
    )
    for r, row in enumerate(rows):
        x = 0
        for cell, column in zip(row, columns, strict=True):
            y = r * (args.cell_height + _GAP)
            grid[y : y + cell.shape[0], x : x + cell.shape[1]] = cell
            x += column + _GAP
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), grid)
    print(f"wrote {args.out}: {len(rows)} rows, {1e3 * seconds / count:.2f} ms per augmentation")


if __name__ == "__main__":
    main(parse_args())
