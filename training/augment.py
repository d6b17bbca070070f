"""On-the-fly augmentation that makes clean renders look like scans and photos of paper.

Works in the paper domain (dark ink on light paper, uint8 gray, any size) so that every step
imitates something physical: the pen (stroke thickness), the camera or scanner geometry
(affine, perspective, elastic), the paper (levels, grain, ruled lines), the light (gradients,
shadows), the optics and sensor (blur, noise) and the file (binarization, JPEG). The network
input is then made by ``ocr_model.preprocessing.prepare_crop``, exactly as at inference.

Runs for every training sample on a 2-core CPU, so each step is one or two OpenCV calls on the
image, and everything that does not depend on the image (grain and noise banks, kernels) is
made once in ``__init__``: about 0.85 ms of CPU per 64 x 400 image. OpenCV's own threads only
add contention in data-loader workers; call ``cv2.setNumThreads(1)`` there.

Usage:
    >>> augment = Augmenter(AugmentConfig())
    >>> noisy = augment(gray, np.random.default_rng(0))
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Rows x columns of the grain and noise banks: random crops of them are used per image (formula
# crops are wide and short); larger images get the bank resized instead.
_BANK_SHAPE = (256, 2048)


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities (``*_prob``) and ranges of the augmentation steps; ``Augmenter`` applies
    each step independently with its probability."""

    pad_prob: float = 0.5  # detector crops are loose or tight: add a paper margin
    pad_max: float = 0.35  # widest margin per side, as a fraction of the image height
    thickness_prob: float = 0.35  # pens and scanner thresholds make strokes bolder or thinner
    thin_share: float = 0.3  # share of thickness changes that thin instead of thicken
    affine_prob: float = 0.7  # the page or camera is not square to the text
    rotate_deg: float = 2.5  # largest rotation, degrees
    shear: float = 0.2  # largest horizontal shear (slanted handwriting), dx per dy
    scale_x: tuple[float, float] = (0.85, 1.15)  # aspect-ratio change of handwriting
    perspective_prob: float = 0.25  # photos taken at an angle
    perspective: float = 0.03  # largest corner shift, as a fraction of the image size
    elastic_prob: float = 0.25  # wobbly strokes of a hand or a wavy page
    elastic_px: float = 1.2  # typical displacement in pixels
    elastic_step: int = 12  # pixels between the random displacement control points
    levels_prob: float = 0.8  # ink is not black, paper is not white
    ink_level: tuple[int, int] = (0, 100)  # gray value the darkest ink is mapped to
    paper_level: tuple[int, int] = (180, 255)  # gray value blank paper is mapped to
    grain_prob: float = 0.5  # paper fibres and recycled-paper speckle
    grain_strength: tuple[float, float] = (0.03, 0.12)  # relative darkening by the grain
    lines_prob: float = 0.15  # notebook ruling or squared paper behind the formula
    grid_share: float = 0.4  # share of ruled backgrounds that are squared (grid) paper
    lines_darkness: tuple[float, float] = (0.06, 0.18)  # relative darkening on the ruling
    lighting_prob: float = 0.45  # lamp or window light falls off across the page
    lighting_strength: tuple[float, float] = (0.08, 0.35)  # darkening from bright to dim side
    shadow_prob: float = 0.15  # a hand or phone shadow over part of the formula
    shadow_strength: tuple[float, float] = (0.12, 0.35)  # darkening inside the shadow
    blur_prob: float = 0.3  # out-of-focus photos, low-resolution scans
    blur_sigma: tuple[float, float] = (0.5, 1.2)  # Gaussian sigma in pixels
    noise_prob: float = 0.4  # sensor noise
    noise_sigma: tuple[float, float] = (2.0, 10.0)  # gray levels of Gaussian noise
    binarize_prob: float = 0.07  # fax-like black-and-white scans
    jpeg_prob: float = 0.3  # phone photos and web images are JPEG-compressed
    jpeg_quality: tuple[int, int] = (25, 80)  # JPEG quality range
    seed: int = 0  # seeds the precomputed grain and noise banks only


class Augmenter:
    """Random paper-domain augmentation; deterministic for a given ``rng`` state.

    Args:
        config: probabilities and ranges of the steps.

    Call with ``(image, rng)``: a uint8 gray image (dark ink on light paper) and a numpy
    ``Generator``; returns a uint8 gray image, larger than the input only where a margin was
    added or a rotation/shear needed room.
    """

    def __init__(self, config: AugmentConfig = AugmentConfig()):
        self.config = config
        bank_rng = np.random.default_rng(config.seed)
        # Grain: noise blurred to fibre size, 0..1 (1 = darkest speck), sparse after the power.
        grain = cv2.GaussianBlur(bank_rng.random(_BANK_SHAPE, np.float32), (0, 0), 1.2)
        grain = (grain - grain.min()) / (grain.max() - grain.min())
        self._grain = np.power(grain, 3).astype(np.float32)
        self._noise = bank_rng.standard_normal(_BANK_SHAPE, np.float32)
        self._kernels = [
            np.ones((2, 2), np.uint8),
            cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3)),
            np.ones((3, 3), np.uint8),
        ]

    def __repr__(self) -> str:
        return f"Augmenter({self.config})"

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c = self.config
        if image.ndim != 2 or image.dtype != np.uint8:
            raise ValueError(f"expected a uint8 gray image, got {image.dtype} {image.shape}")
        paper = int(image.max())  # blank paper is the brightest thing in a scan
        if rng.random() < c.pad_prob:
            image = self._pad(image, paper, rng)
        if rng.random() < c.thickness_prob:
            image = self._thickness(image, rng)
        image = self._geometry(image, paper, rng)
        if rng.random() < c.elastic_prob:
            image = self._elastic(image, paper, rng)
        if rng.random() < c.levels_prob:
            image = self._levels(image, rng)
        if rng.random() < c.blur_prob:
            image = cv2.GaussianBlur(image, (0, 0), rng.uniform(*c.blur_sigma))
        image = self._paper_and_light(image, rng)
        if rng.random() < c.binarize_prob:
            # A local threshold so uneven lighting does not turn into blobs; the offset of 25
            # gray levels drops grain and faint ruling but keeps ink (>= 90 levels darker).
            block = 2 * max(5, image.shape[0] // 6) + 1
            binary = cv2.adaptiveThreshold(
                image, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, 25
            )
            # Faint ink (pencil, low-contrast input) would vanish: keep the gray image then.
            middle = (int(image.min()) + int(image.max())) // 2
            if np.count_nonzero(binary == 0) >= 0.5 * np.count_nonzero(image < middle):
                image = binary
        if rng.random() < c.jpeg_prob:
            quality = int(rng.integers(c.jpeg_quality[0], c.jpeg_quality[1] + 1))
            _, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
        return image

    def _pad(self, image: np.ndarray, paper: int, rng: np.random.Generator) -> np.ndarray:
        top, bottom, left, right = rng.integers(0, int(self.config.pad_max * image.shape[0]) + 1, 4)
        return cv2.copyMakeBorder(
            image, int(top), int(bottom), int(left), int(right), cv2.BORDER_CONSTANT, value=paper
        )

    def _thickness(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < self.config.thin_share:
            # Thinning can erase 1-2 px strokes; keep it only if most of the ink survives.
            thinner = cv2.dilate(image, self._kernels[0])
            if np.count_nonzero(thinner < 128) >= 0.6 * np.count_nonzero(image < 128):
                return thinner
            return image
        return cv2.erode(image, self._kernels[int(rng.integers(len(self._kernels)))])

    def _geometry(self, image: np.ndarray, paper: int, rng: np.random.Generator) -> np.ndarray:
        c = self.config
        h, w = image.shape
        matrix = np.eye(3)
        affine = rng.random() < c.affine_prob
        if affine:
            angle = np.deg2rad(rng.uniform(-c.rotate_deg, c.rotate_deg))
            cos, sin = np.cos(angle), np.sin(angle)
            shear = rng.uniform(-c.shear, c.shear)
            sx = rng.uniform(*c.scale_x)
            # rotation @ shear @ x-scale, about the image centre (translation fixed below)
            matrix = np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]]) @ np.array(
                [[sx, shear, 0], [0, 1, 0], [0, 0, 1]]
            )
        corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        moved = cv2.perspectiveTransform(corners[None], matrix)[0]
        if rng.random() < c.perspective_prob:
            jitter = rng.uniform(-c.perspective, c.perspective, (4, 2)) * (w, h)
            moved = (moved + jitter).astype(np.float32)
        elif not affine:
            return image
        # Grow the canvas so nothing is cut off, then move the result to the origin.
        low, high = moved.min(axis=0), moved.max(axis=0)
        moved = moved - low
        size = np.ceil(high - low).astype(int) + 1
        warp = cv2.getPerspectiveTransform(corners, moved.astype(np.float32))
        return cv2.warpPerspective(
            image, warp, (int(size[0]), int(size[1])), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT, borderValue=paper,
        )  # fmt: skip

    def _elastic(self, image: np.ndarray, paper: int, rng: np.random.Generator) -> np.ndarray:
        c = self.config
        h, w = image.shape
        # A coarse random field upsampled smoothly: strokes bend, they do not tear.
        grid = (h // c.elastic_step + 2, w // c.elastic_step + 2, 2)
        coarse = rng.normal(0.0, c.elastic_px, grid).astype(np.float32)
        coords = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)  # h x w x (dx, dy)
        coords[..., 0] += np.arange(w, dtype=np.float32)
        coords[..., 1] += np.arange(h, dtype=np.float32)[:, None]
        return cv2.remap(
            image, coords, None, cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT, borderValue=paper,
        )  # fmt: skip

    def _levels(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c = self.config
        ink = rng.uniform(*c.ink_level)
        # At least 90 gray levels between ink and paper keep the formula readable.
        darkest_paper = min(max(c.paper_level[0], ink + 90), c.paper_level[1])
        paper = rng.uniform(darkest_paper, c.paper_level[1])
        gamma = rng.uniform(0.7, 1.4)  # how fast anti-aliased edges fade into the paper
        table = ink + (paper - ink) * np.power(np.arange(256) / 255.0, gamma)
        return cv2.LUT(image, table.astype(np.uint8))

    def _paper_and_light(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Grain, ruling, lighting and shadow as one multiplicative field, then sensor noise."""
        c = self.config
        h, w = image.shape
        field: np.ndarray | None = None

        def darken(factor: np.ndarray) -> None:
            nonlocal field
            field = factor if field is None else field * factor

        if rng.random() < c.grain_prob:
            darken(1.0 - rng.uniform(*c.grain_strength) * self._bank_crop(self._grain, h, w, rng))
        if rng.random() < c.lines_prob:
            ruling = self._ruling(h, w, rng.random() < c.grid_share, rng)
            darken(1.0 - rng.uniform(*c.lines_darkness) * ruling)
        if rng.random() < c.lighting_prob:
            darken(self._light_field(h, w, rng, shadow=False))
        if rng.random() < c.shadow_prob:
            darken(self._light_field(h, w, rng, shadow=True))
        noisy = rng.random() < c.noise_prob
        if field is None and not noisy:
            return image
        out = image.astype(np.float32)
        if field is not None:
            out *= field
        if noisy:
            out += rng.uniform(*c.noise_sigma) * self._bank_crop(self._noise, h, w, rng)
        return np.clip(out, 0, 255).astype(np.uint8)

    @staticmethod
    def _bank_crop(bank: np.ndarray, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
        rows, columns = bank.shape
        if h <= rows and w <= columns:
            y, x = rng.integers(0, rows - h + 1), rng.integers(0, columns - w + 1)
            return bank[y : y + h, x : x + w]
        return cv2.resize(bank, (w, h), interpolation=cv2.INTER_NEAREST)

    @staticmethod
    def _ruling(h: int, w: int, grid: bool, rng: np.random.Generator) -> np.ndarray:
        """0/1 float mask of faint horizontal rules, and vertical ones for squared paper."""
        mask = np.zeros((h, w), np.float32)
        spacing = max(10.0, rng.uniform(0.3, 0.8) * h)
        for y in np.arange(rng.uniform(0, spacing), h, spacing):
            mask[int(y)] = 1.0
        if grid:
            for x in np.arange(rng.uniform(0, spacing), w, spacing):
                mask[:, int(x)] = 1.0
        return mask

    def _light_field(self, h: int, w: int, rng: np.random.Generator, shadow: bool) -> np.ndarray:
        """A smooth darkening factor: a linear light fall-off, or a soft-edged shadow."""
        # Made at 1/4 resolution and upsampled: it is smooth, and full-size tanh is costly.
        hs, ws = h // 4 + 2, w // 4 + 2
        angle = rng.uniform(0, 2 * np.pi)
        # Signed distance along a random direction, in image heights, centred on the image.
        xs = (np.arange(ws, dtype=np.float32) - ws / 2) * np.float32(np.cos(angle) / hs)
        ys = (np.arange(hs, dtype=np.float32) - hs / 2) * np.float32(np.sin(angle) / hs)
        ramp = xs[None, :] + ys[:, None]
        if shadow:
            edge = np.float32(rng.uniform(-0.3, 0.3) * w / h)
            softness = np.float32(rng.uniform(0.05, 0.3))
            inside = 0.5 + 0.5 * np.tanh((ramp - edge) / softness)
            coarse = 1.0 - np.float32(rng.uniform(*self.config.shadow_strength)) * inside
        else:
            low, high = float(ramp.min()), float(ramp.max())
            scale = rng.uniform(*self.config.lighting_strength) / max(high - low, 1e-6)
            coarse = np.float32(1.0 + scale * low) - np.float32(scale) * ramp
        return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
