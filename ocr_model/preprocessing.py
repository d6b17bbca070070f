"""Turn any crop into the network's input: ink 1 on background 0, fixed height, width kept.

Training renders and user crops go through the same geometry (crop to ink, fixed margin,
scale to ``height``), so what the network sees at inference looks like what it trained on.
"""

from __future__ import annotations

import cv2
import numpy as np

MARGIN = 4  # pixels of background kept around the ink at the model height


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 grayscale from gray, RGB or RGBA (transparent pixels become white paper)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        scale = 255.0 if image.max(initial=0) <= 1.0 else 1.0
        image = np.clip(image.astype(np.float32) * scale, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return image
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected a gray, RGB or RGBA image, got shape {image.shape}")
    if image.shape[2] == 1:
        return image[:, :, 0]
    gray = cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2GRAY)
    if image.shape[2] == 4:
        alpha = image[:, :, 3].astype(np.float32) / 255.0
        gray = (gray * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return gray


def ink_map(gray: np.ndarray) -> np.ndarray:
    """Float ink intensity in 0..1 (1 = darkest ink), contrast-stretched, dark-on-light assumed
    unless the image is mostly dark (then it is inverted)."""
    low, high = np.percentile(gray, (1, 99))
    if high - low < 1:
        return np.zeros(gray.shape, np.float32)
    ink = (high - gray.astype(np.float32)) / (high - low)
    if np.median(ink) > 0.5:  # light ink on dark paper (a negative, or a blackboard)
        ink = 1.0 - ink
    return np.clip(ink, 0.0, 1.0)


INK_THRESHOLD = 0.35  # ink-map level that counts as ink when cropping (above paper texture)


def ink_bounds(ink: np.ndarray, margin: int = 0) -> tuple[slice, slice] | None:
    """Rows and columns of the ink in an ink map, widened by ``margin``; None without ink."""
    ys, xs = np.nonzero(ink > INK_THRESHOLD)
    if len(ys) == 0:
        return None
    rows = slice(max(0, ys.min() - margin), ys.max() + margin + 1)
    return rows, slice(max(0, xs.min() - margin), xs.max() + margin + 1)


def fit_to_height(ink: np.ndarray, height: int, max_width: int, stride: int) -> np.ndarray:
    """Crop ``ink`` to its ink and scale it to ``height`` rows with ``MARGIN`` around it.

    Args:
        ink: float ink map in 0..1.
        height: output rows.
        max_width: widest output; wider formulas are scaled down to fit.
        stride: output width is padded up to a multiple of this.

    Returns:
        ``height x W`` float32, ``W`` a multiple of ``stride``; all zeros when there is no ink.
    """
    bounds = ink_bounds(ink)
    if bounds is None:
        return np.zeros((height, stride), np.float32)
    ink = ink[bounds]
    h, w = ink.shape
    inner_h, inner_w = height - 2 * MARGIN, max_width - 2 * MARGIN
    scale = min(inner_h / h, inner_w / w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(ink, (new_w, new_h), interpolation=interpolation)
    width = -(-(new_w + 2 * MARGIN) // stride) * stride
    out = np.zeros((height, width), np.float32)
    top = (height - new_h) // 2
    out[top : top + new_h, MARGIN : MARGIN + new_w] = resized
    return out


def prepare_crop(image: np.ndarray, height: int, max_width: int, stride: int) -> np.ndarray:
    """Any crop (gray/RGB/RGBA, any polarity) -> network input ``height x W`` float32."""
    return fit_to_height(ink_map(to_gray(image)), height, max_width, stride)
