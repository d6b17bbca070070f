"""Readers for labelled formula images and ink, and the training sample stream.

Three sources: the Data-for-LaTeX_OCR layout (the ``hand`` set, CROHME 2014 offline test,
``render_synthetic`` output), CROHME InkML ink (rendered on the fly) and a plain folder with
``labels.tsv`` for users' own scans. Readers never skip a bad row silently: each problem is
returned with its file and line so that callers can log it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ocr_model.preprocessing import to_gray
from ocr_model.vocab import UnknownTokenError, Vocabulary, canonical_latex
from training.ink import InkError, read_inkml, render_strokes

log = logging.getLogger(__name__)


@dataclass
class ImageSample:
    """A labelled image on disk."""

    path: Path
    label: str  # canonical tokens

    @property
    def where(self) -> str:
        return str(self.path)


@dataclass
class InkRecord:
    """A labelled ink expression (strokes kept in memory, rendered per use)."""

    name: str
    strokes: list[np.ndarray]
    label: str  # canonical tokens

    @property
    def where(self) -> str:
        return self.name


@dataclass
class ReadResult:
    """What a reader found: usable samples and one message per rejected row or file."""

    samples: list = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def log_problems(self, source: str) -> None:
        for problem in self.problems:
            log.warning("%s: %s", source, problem)


def read_latex_ocr(root: str | Path, split: str) -> ReadResult:
    """Read ``root`` in the Data-for-LaTeX_OCR layout (``images/images_{split}/N.png``,
    ``formulas/{split}.formulas.norm.txt``, ``matching/{split}.matching.txt``)."""
    root = Path(root)
    formulas_path = root / "formulas" / f"{split}.formulas.norm.txt"
    matching_path = root / "matching" / f"{split}.matching.txt"
    for required in (formulas_path, matching_path):
        if not required.is_file():
            raise FileNotFoundError(
                f"{required} not found: is {root} in Data-for-LaTeX_OCR layout?"
            )
    formulas = formulas_path.read_text(encoding="utf-8").splitlines()
    result = ReadResult()
    for number, line in enumerate(matching_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{matching_path}:{number}"
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            result.problems.append(f"{where}: expected 'IMAGE INDEX', got {line!r}")
            continue
        image, index = root / "images" / f"images_{split}" / parts[0], int(parts[1])
        if index >= len(formulas):
            result.problems.append(f"{where}: formula line {index} does not exist")
        elif not image.is_file():
            result.problems.append(f"{where}: image {image} not found")
        else:
            result.samples.append(ImageSample(image, canonical_latex(formulas[index])))
    return result


def read_labels_tsv(folder: str | Path) -> ReadResult:
    """Read ``folder/labels.tsv`` rows ``image<TAB>latex`` (image paths relative to folder)."""
    folder = Path(folder)
    labels = folder / "labels.tsv"
    if not labels.is_file():
        raise FileNotFoundError(f"{labels} not found")
    result = ReadResult()
    for number, line in enumerate(labels.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{labels}:{number}"
        image_name, tab, latex = line.partition("\t")
        image = folder / image_name
        if not tab or not latex.strip():
            result.problems.append(f"{where}: expected 'IMAGE<TAB>LATEX', got {line!r}")
        elif not image.is_file():
            result.problems.append(f"{where}: image {image} not found")
        else:
            result.samples.append(ImageSample(image, canonical_latex(latex)))
    return result


def read_captions(path: str | Path) -> dict[str, str]:
    """CROHME ``id<TAB>tokens`` captions, canonicalized."""
    captions = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        name, _, tokens = line.partition("\t")
        if tokens.strip():
            captions[name.strip()] = canonical_latex(tokens)
    return captions


def load_dictionary(path: str | Path) -> frozenset[str]:
    """The tokens of a CROHME ``dictionary.txt`` (``token<TAB>id`` lines; ``<eol>`` dropped)."""
    tokens = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        token = line.split("\t")[0].strip()
        if token and token != "<eol>":
            tokens.add(token)
    return frozenset(tokens)


def read_ink_folder(folder: str | Path, captions: dict[str, str] | None = None) -> ReadResult:
    """Read every ``*.inkml`` under ``folder``; labels from ``captions`` when given (files
    without a caption are reported), else from each file's LaTeX truth."""
    result = ReadResult()
    for path in sorted(Path(folder).rglob("*.inkml")):
        try:
            ink = read_inkml(path)
        except InkError as exc:
            result.problems.append(str(exc))
            continue
        if captions is not None:
            label = captions.get(ink.name)
            if label is None:
                result.problems.append(f"{path}: no caption for id {ink.name}")
                continue
        else:
            label = canonical_latex(ink.truth)
            if not label:
                result.problems.append(f"{path}: no truth annotation")
                continue
        result.samples.append(InkRecord(ink.name, ink.strokes, label))
    return result


def load_image(path: Path) -> np.ndarray:
    """A dataset image as paper-domain uint8 gray (transparent background -> white)."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"cannot decode image {path}")
    if image.ndim == 3:
        channels = cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
        image = cv2.cvtColor(image, channels)
    return to_gray(image)


def keep_encodable(result: ReadResult, vocab: Vocabulary, source: str) -> ReadResult:
    """Drop samples whose labels use tokens outside ``vocab``, reporting each one."""
    kept = ReadResult(problems=list(result.problems))
    for sample in result.samples:
        try:
            vocab.encode(sample.label)
        except UnknownTokenError as exc:
            kept.problems.append(f"{sample.where}: {exc}")
            continue
        kept.samples.append(sample)
    kept.log_problems(source)
    return kept


def paper_image(
    sample: ImageSample | InkRecord, rng: np.random.Generator | None = None
) -> np.ndarray:
    """One sample as a paper-domain uint8 image; ``rng`` randomizes ink rendering."""
    if isinstance(sample, ImageSample):
        return load_image(sample.path)
    if rng is None:
        return render_strokes(sample.strokes)
    angle = np.deg2rad(rng.uniform(-3, 3))
    shear, stretch = rng.uniform(-0.15, 0.15), rng.uniform(0.85, 1.15)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    transform = rotation @ np.array([[stretch, shear], [0.0, 1.0]])
    return render_strokes(
        sample.strokes,
        char_height=float(rng.uniform(16, 30)),
        thickness=int(rng.choice([1, 2, 2, 3, 3, 4])),
        transform=transform,
    )
