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
from training.ink import InkError, median_stroke_height, read_inkml, render_strokes

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


def read_ink(source: str | Path, captions: dict[str, str] | None = None) -> ReadResult:
    """Labelled ink from an InkML folder (labels from ``captions`` or each file's truth) or
    from a pack written by ``save_ink_pack`` (labels fixed when it was packed)."""
    source = Path(source)
    if source.is_dir():
        return read_ink_folder(source, captions)
    if captions is not None:
        raise ValueError(f"{source} is an ink pack: its labels were applied when it was packed")
    return read_ink_pack(source)


# A pack stores points as int16 in units of 1/INK_PACK_UNITS of the median stroke height:
# rendering rescales to that height anyway, and the rounding is under a pixel at any
# training scale.
INK_PACK_UNITS = 32.0


def save_ink_pack(records: list[InkRecord], path: str | Path) -> None:
    """Write labelled ink compactly: the CROHME training ink is 95 MB of InkML that takes
    minutes to parse, and a few MB as a pack that loads in a second (and fits a GPU lease)."""
    points, stroke_ends, sample_ends = [], [], []
    count = 0
    for record in records:
        scale = INK_PACK_UNITS / median_stroke_height(record.strokes)
        origin = np.concatenate(record.strokes).min(axis=0)
        for stroke in record.strokes:
            points.append(np.round((stroke - origin) * scale).astype(np.int16))
            count += len(stroke)
            stroke_ends.append(count)
        sample_ends.append(len(stroke_ends))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:  # a file object: np.savez would append ".npz" to the name
        np.savez_compressed(
            file,
            points=np.concatenate(points) if points else np.zeros((0, 2), np.int16),
            stroke_ends=np.asarray(stroke_ends, np.int64),
            sample_ends=np.asarray(sample_ends, np.int64),
            names=np.asarray([r.name for r in records], dtype=str),
            labels=np.asarray([r.label for r in records], dtype=str),
        )


def read_ink_pack(path: str | Path) -> ReadResult:
    """Read a pack written by ``save_ink_pack``."""
    try:
        with np.load(path, allow_pickle=False) as pack:
            points, stroke_ends = pack["points"].astype(np.float32), pack["stroke_ends"]
            sample_ends, names, labels = pack["sample_ends"], pack["names"], pack["labels"]
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path}: not an ink pack ({exc})") from exc
    strokes = np.split(points, stroke_ends[:-1]) if len(stroke_ends) else []
    result = ReadResult()
    first = 0
    for name, label, end in zip(names, labels, sample_ends, strict=True):
        result.samples.append(InkRecord(str(name), strokes[first:end], str(label)))
        first = end
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
