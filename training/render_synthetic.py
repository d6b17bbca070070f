"""Render printed formulas offline with matplotlib mathtext, labelled in canonical tokens.

Two sources of formulas: a file of training labels (``id<TAB>tokens`` or one formula a line),
and a seeded random generator over the CROHME dictionary (fractions, roots, scripts, sums,
integrals, limits, trig, Greek, brackets, nesting), so the model sees symbols and layouts beyond
the few hundred handwritten formulas. Every label is canonical (``canonical_latex(label) ==
label``) and uses dictionary tokens only; mathtext renders the canonical tokens once scripts
are glued to their braces (``to_mathtext``; every CROHME training caption renders in every
font), and whatever it cannot render is skipped, counted and listed in
``skipped_{split}.txt``, never dropped silently.

Fonts: cm, stix, stixsans, dejavusans and dejavuserif. **dejavuserif is held out**: training
renders use the other four (the default ``--fonts``), and the printed evaluation set is rendered
in dejavuserif only, so it measures reading an unseen typeface.

Output is the Data-for-LaTeX_OCR layout, readable by ``training.evaluate`` and the datasets.

Usage (training set: CROHME captions and as many generated formulas, four fonts; the printed
test set: the CROHME 2014 test formulas, each once, in the held-out font):
    python -m training.render_synthetic --out ../synthetic --count 40000 --seed 0 \\
        --formulas ../shared/data/crohme/train_caption.txt
    python -m training.render_synthetic --out ../synthetic --split test --count 986 --seed 1 \\
        --fonts dejavuserif --generated-share 0 \\
        --formulas ../shared/data/crohme/test2014/formulas/test.formulas.norm.txt

Speed: about 13 ms of CPU per formula (mathtext parse and raster about 8 ms, the rest PNG
writing), i.e. about 75 formulas/s on one idle core, after about 7 s of start-up.
"""

from __future__ import annotations

import argparse
import logging
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from matplotlib.font_manager import FontProperties
from matplotlib.mathtext import MathTextParser

from ocr_model.vocab import canonical_latex, tokenize_latex
from training.datasets import load_dictionary

FONTS = ("cm", "stix", "stixsans", "dejavusans", "dejavuserif")
HELD_OUT_FONT = "dejavuserif"  # never rendered for training; the printed test set uses it
TRAIN_FONTS = tuple(f for f in FONTS if f != HELD_OUT_FONT)
DPI = 100  # with font sizes of 12-28 pt, symbols are about 15-40 px high, like scanned pages

_PARSER = MathTextParser("agg")

# Token pools of the generator, all CROHME dictionary tokens; the dictionary given to
# FormulaGenerator filters them again, so a smaller vocabulary still gets only its own tokens.
_LETTERS = (*"abcdefghijklmnopqrstuvwxyz", *"ABCEFGHILMNPRSTVXY")
_COMMON_LETTERS = tuple("xyzabcnkt")  # what formulas mostly use, to look like real ones
_GREEK = (
    "\\alpha", "\\beta", "\\gamma", "\\theta", "\\lambda", "\\mu", "\\pi", "\\sigma", "\\phi",
    "\\Delta",
)  # fmt: skip
_OPERATORS = ("+", "-", "+", "-", "+", "-", "\\times", "\\div", "\\pm", "\\cdot", "/")
_RELATIONS = ("=", "=", "=", "=", "<", ">", "\\leq", "\\geq", "\\neq")
_TRIG = ("\\sin", "\\cos", "\\tan")
_UNAVAILABLE = "<unavailable>"  # stands for a token class the dictionary lacks


class RenderError(ValueError):
    """mathtext cannot render a formula (the message says why)."""


class FormulaGenerator:
    """Random formulas as canonical token strings over a given dictionary.

    Args:
        dictionary: allowed tokens; formulas needing anything else are drawn again.
        max_tokens: longest formula (long ones get too small at the model's input height).
        max_depth: deepest nesting of fractions, roots and brackets.

    Usage:
        >>> generate = FormulaGenerator(load_dictionary("dictionary.txt"))
        >>> generate(np.random.default_rng(0))
    """

    def __init__(self, dictionary: Iterable[str], max_tokens: int = 45, max_depth: int = 3):
        self.dictionary = frozenset(dictionary)
        self.max_tokens = max_tokens
        self.max_depth = max_depth
        keep = self._allowed
        self._letters = keep(_LETTERS)
        self._common = keep(_COMMON_LETTERS) or self._letters
        self._greek = keep(_GREEK)
        self._digits = keep(tuple("0123456789"))
        self._operators = keep(_OPERATORS)
        self._relations = keep(_RELATIONS)
        self._trig = keep(_TRIG)
        if not (self._letters or self._digits) or not {"{", "}"} <= self.dictionary:
            raise ValueError("dictionary needs letters or digits and the braces { }")

    def _allowed(self, tokens: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(t for t in tokens if t in self.dictionary)

    def __call__(self, rng: np.random.Generator) -> str:
        for _ in range(200):
            tokens = self._formula(rng)
            if 0 < len(tokens) <= self.max_tokens and self.dictionary.issuperset(tokens):
                return canonical_latex(" ".join(tokens))
        raise RuntimeError("the dictionary is too small to generate formulas")

    # Each rule returns a token list with every script and fraction argument braced; primes
    # come in each spelling so that the random stream stays that of earlier sets, and ``__call__``
    # spells them canonically.

    def _formula(self, rng: np.random.Generator) -> list[str]:
        kind = rng.random()
        if kind < 0.45:
            return [*self._expr(rng, 0), self._pick(rng, self._relations), *self._expr(rng, 0)]
        if kind < 0.6:
            return self._expr(rng, 0)
        if kind < 0.7:  # a function definition
            name = self._pick(rng, ("f", "g", "h", "F", "y"))
            return [name, "(", self._variable(rng), ")", "=", *self._expr(rng, 0)]
        if kind < 0.78:
            return self._sequence(rng)
        if kind < 0.83:  # quantified statement
            x = self._variable(rng)
            quantifier = self._pick(rng, ("\\forall", "\\exists"))
            domain = self._pick(rng, ("R", "N", "E", "S"))
            statement = [*self._expr(rng, 1), self._pick(rng, self._relations), *self._expr(rng, 1)]
            return [quantifier, x, "\\in", domain, ",", *statement]
        if kind < 0.9:
            return [*self._limit(rng), *self._term(rng, 1), "=", *self._term(rng, 2)]
        # a chain such as 0 < x \leq 1
        relation = self._pick(rng, ("<", "\\leq", "=", "<"))
        return [*self._term(rng, 1), relation, *self._term(rng, 1), relation, *self._term(rng, 1)]

    def _expr(self, rng: np.random.Generator, depth: int) -> list[str]:
        terms = (0.35, 0.35, 0.2, 0.1) if depth == 0 else (0.6, 0.3, 0.1, 0.0)
        count = 1 + int(rng.choice(4, p=terms))
        tokens = ["-"] if rng.random() < 0.08 else []
        for i in range(count):
            if i:
                tokens.append(self._pick(rng, self._operators))
            tokens.extend(self._term(rng, depth))
        return tokens

    def _term(self, rng: np.random.Generator, depth: int) -> list[str]:
        if rng.random() < 0.25:  # coefficient times factors: 2 x y, 3 \sin x
            return [*self._number(rng, 2), *self._factor(rng, depth, number=False)]
        tokens = self._factor(rng, depth)
        if rng.random() < 0.2:
            tokens += self._factor(rng, depth)
        return tokens

    def _factor(self, rng: np.random.Generator, depth: int, number: bool = True) -> list[str]:
        if depth >= self.max_depth:
            if number and rng.random() < 0.4:
                return self._number(rng, 3)
            return self._scripted_variable(rng, depth)
        rules = (
            (0.2 if number else 0.0, lambda: self._number(rng, 3)),
            (0.28, lambda: self._scripted_variable(rng, depth)),
            (0.1, lambda: ["\\frac", "{", *self._expr(rng, depth + 1), "}",
                           "{", *self._expr(rng, depth + 1), "}"]),
            (0.06, lambda: self._root(rng, depth)),
            (0.1, lambda: self._brackets(rng, depth)),
            (0.07, lambda: self._function(rng, depth)),
            (0.04, lambda: self._big_operator(rng, depth)),
            (0.02, lambda: [*self._limit(rng), *self._term(rng, depth + 1)]),
            (0.08, lambda: self._call(rng, depth)),
            (0.03, lambda: [*self._scripted_variable(rng, self.max_depth), "!"]),
            (0.02, lambda: ["\\infty"]),
        )  # fmt: skip
        weights = np.array([w for w, _ in rules])
        return rules[int(rng.choice(len(rules), p=weights / weights.sum()))][1]()

    def _number(self, rng: np.random.Generator, max_digits: int) -> list[str]:
        digits = [self._pick(rng, self._digits) for _ in range(int(rng.integers(max_digits)) + 1)]
        if len(digits) > 1 and digits[0] == "0":
            digits[0] = "1"  # no leading zeros
        if rng.random() < 0.08:  # a decimal
            digits += [".", self._pick(rng, self._digits)]
        return digits

    def _variable(self, rng: np.random.Generator) -> str:
        r = rng.random()
        if r < 0.6:
            return self._pick(rng, self._common)
        if r < 0.8 and self._greek:
            return self._pick(rng, self._greek)
        return self._pick(rng, self._letters)

    def _script(self, rng: np.random.Generator, depth: int) -> list[str]:
        r = rng.random()
        if r < 0.4:
            return self._number(rng, 1)
        if r < 0.65:
            return [self._variable(rng)]
        if r < 0.8:  # n + 1, i - 1
            return [self._pick(rng, ("n", "i", "k", "j")), self._pick(rng, ("+", "-")), "1"]
        if r < 0.9:
            return ["-", *self._number(rng, 1)]
        return self._expr(rng, depth + 2) if depth + 2 <= self.max_depth else ["2"]

    def _scripted_variable(self, rng: np.random.Generator, depth: int) -> list[str]:
        tokens = [self._variable(rng)]
        r = rng.random()
        if r < 0.25:
            tokens += ["^", "{", *self._script(rng, depth), "}"]
        elif r < 0.4:
            tokens += ["_", "{", *self._script(rng, depth), "}"]
        elif r < 0.47:  # subscript before superscript, as CROHME captions write it
            tokens += ["_", "{", *self._script(rng, depth), "}"]
            tokens += ["^", "{", *self._script(rng, depth), "}"]
        elif r < 0.5:
            tokens += ["^", "{", self._pick(rng, ("\\prime", "'")), "}"]
        return tokens

    def _root(self, rng: np.random.Generator, depth: int) -> list[str]:
        index = ["[", self._pick(rng, ("3", "3", "4", "n")), "]"] if rng.random() < 0.25 else []
        return ["\\sqrt", *index, "{", *self._expr(rng, depth + 1), "}"]

    def _brackets(self, rng: np.random.Generator, depth: int) -> list[str]:
        left, right = [("(", ")"), ("(", ")"), ("(", ")"), ("[", "]"), ("\\{", "\\}"), ("|", "|")][
            int(rng.integers(6))
        ]
        tokens = [left, *self._expr(rng, depth + 1), right]
        if rng.random() < 0.3:
            tokens += ["^", "{", *self._script(rng, depth), "}"]
        return tokens

    def _function(self, rng: np.random.Generator, depth: int) -> list[str]:
        if rng.random() < 0.25:
            name = ["\\log"]
            if rng.random() < 0.4:
                name += ["_", "{", *self._number(rng, 1), "}"]
        else:
            name = [self._pick(rng, self._trig)]
            if rng.random() < 0.2:
                name += ["^", "{", "2", "}"]
        if rng.random() < 0.5:
            return [*name, *self._scripted_variable(rng, self.max_depth)]
        return [*name, "(", *self._expr(rng, depth + 1), ")"]

    def _big_operator(self, rng: np.random.Generator, depth: int) -> list[str]:
        if rng.random() < 0.5:
            i = self._pick(rng, ("i", "k", "n", "j"))
            upper = self._pick(rng, ("n", "N", "\\infty", "k", "m"))
            return ["\\sum", "_", "{", i, "=", self._pick(rng, ("0", "1")), "}",
                    "^", "{", upper, "}", *self._term(rng, depth + 1)]  # fmt: skip
        x = self._pick(rng, ("x", "t", "u", "y"))
        bounds = []
        if rng.random() < 0.7:
            bounds += ["_", "{", *self._script(rng, depth), "}"]
            bounds += ["^", "{", *self._script(rng, depth), "}"]
        return ["\\int", *bounds, *self._expr(rng, depth + 1), "d", x]

    def _limit(self, rng: np.random.Generator) -> list[str]:
        x = self._pick(rng, ("x", "n", "t", "h"))
        target = self._pick(rng, ("0", "\\infty", "1", "a", "+ \\infty")).split()
        return ["\\lim", "_", "{", x, "\\rightarrow", *target, "}"]

    def _call(self, rng: np.random.Generator, depth: int) -> list[str]:
        name = [self._pick(rng, ("f", "g", "h", "F", "G"))]
        r = rng.random()
        if r < 0.15:
            name += ["'"]
        elif r < 0.25:
            name += ["^", "{", "\\prime", "}"]
        argument = [self._variable(rng)] if rng.random() < 0.6 else self._expr(rng, depth + 1)
        return [*name, "(", *argument, ")"]

    def _sequence(self, rng: np.random.Generator) -> list[str]:
        x, n = self._pick(rng, self._common), self._pick(rng, ("n", "k", "N", "m"))
        separator = self._pick(rng, (",", "+", "\\times", ","))
        dots = "\\ldots" if separator == "," else "\\cdots"
        tokens = [x, "_", "{", "1", "}", separator, x, "_", "{", "2", "}", separator, dots,
                  separator, x, "_", "{", n, "}"]  # fmt: skip
        if rng.random() < 0.4:
            tokens += [self._pick(rng, self._relations), *self._expr(rng, 1)]
        return tokens

    @staticmethod
    def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
        if not options:  # the dictionary lacks this class: the formula is drawn again
            return _UNAVAILABLE
        return options[int(rng.integers(len(options)))]


class FormulaSource:
    """Draws formulas: a share ``generated_share`` from the generator, the rest from
    ``formulas`` in a shuffled cycle (each used about equally often); all generated when no
    formulas are given."""

    def __init__(
        self,
        generator: FormulaGenerator,
        formulas: list[str] | None = None,
        generated_share: float = 0.5,
    ):
        self.generator = generator
        self.formulas = formulas or []
        self.share = generated_share if self.formulas else 1.0
        self._cycle: list[str] = []

    def __call__(self, rng: np.random.Generator) -> str:
        if rng.random() < self.share:
            return self.generator(rng)
        if not self._cycle:
            self._cycle = [self.formulas[i] for i in rng.permutation(len(self.formulas))]
        return self._cycle.pop()


@dataclass
class PrintedRecord:
    """A formula drawn each time it is used (``draw_printed``): a fresh font, size and margin
    per use, so printed training data costs no disk and seldom looks the same twice."""

    label: str  # canonical tokens

    @property
    def where(self) -> str:
        return f"printed formula {self.label!r}"


def printed_records(count: int, seed: int, source: FormulaSource) -> list[PrintedRecord]:
    """``count`` formulas from ``source``, drawn reproducibly from ``seed``."""
    rng = np.random.default_rng(seed)
    return [PrintedRecord(source(rng)) for _ in range(count)]


class PrintedInk:
    """mathtext ink of each (formula, font), kept after its first draw and scaled to the size
    of each later one.

    Parsing is what costs: 9-17 ms a formula on the 2-core machines, three quarters of the
    training loader's time, against well under a millisecond to scale a kept raster. Rasters
    are kept at ``size`` points (the largest training size) and scaled down, so thin strokes
    come out a little lighter than mathtext draws them at the smaller size. Past ``max_bytes``
    new rasters are drawn but not kept.
    """

    def __init__(self, size: float = 28.0, max_bytes: int = 2 * 1024**3):
        self.size = size
        self.max_bytes = max_bytes
        self.kept_bytes = 0
        self._kept: dict[tuple[str, str], np.ndarray | None] = {}  # None: mathtext failed

    def __call__(self, latex: str, font: str, fontsize: float) -> np.ndarray | None:
        """Ink coverage (0..255, cropped to the ink) of ``latex`` in ``font`` at ``fontsize``
        points, or ``None`` when mathtext cannot draw it in that font."""
        key = (latex, font)
        if key in self._kept:
            ink = self._kept[key]
        else:
            try:
                ink = rasterize_formula(latex, font, self.size)
            except RenderError:
                ink = None
            if self.kept_bytes < self.max_bytes:
                self._kept[key] = ink
                self.kept_bytes += 0 if ink is None else ink.nbytes
        if ink is None or fontsize >= self.size:
            return ink
        scale = fontsize / self.size
        shape = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))
        return cv2.resize(ink, shape, interpolation=cv2.INTER_AREA)


def draw_printed(
    record: PrintedRecord,
    rng: np.random.Generator,
    inks: PrintedInk,
    fonts: tuple[str, ...] = TRAIN_FONTS,
    fontsize: tuple[float, float] = (12.0, 28.0),
) -> np.ndarray | None:
    """``record`` as paper-domain uint8 gray (dark ink on white, cropped with a small random
    margin) in a random font of ``fonts`` and size in ``fontsize`` points at ``DPI`` (12-28
    gives symbols of about 15-40 px); when mathtext cannot draw it in that font, the other
    fonts are tried; ``None`` when none can.

    Usage:
        >>> inks = PrintedInk()  # one per process: it keeps what mathtext drew
        >>> image = draw_printed(PrintedRecord(r"x ^ { 2 }"), np.random.default_rng(0), inks)
    """
    first, size = int(rng.integers(len(fonts))), rng.uniform(*fontsize)
    for k in range(len(fonts)):
        ink = inks(record.label, fonts[(first + k) % len(fonts)], size)
        if ink is not None:
            return _on_paper(ink, rng)
    return None


def to_mathtext(latex: str) -> str:
    """Canonical tokens as mathtext reads them: mathtext takes the space after ``^``/``_`` as
    the script itself (``x _ { 1 }`` renders an inline 1), so scripts are glued to their
    braces; elsewhere the spaces keep commands apart (``\\sin x``)."""
    return re.sub(r" *([_^]) *", r"\1", latex)


def rasterize_formula(latex: str, font: str, fontsize: float) -> np.ndarray:
    """mathtext ink coverage (0..255, 255 = ink) of a canonical formula, cropped to the ink.

    Raises:
        RenderError: mathtext cannot parse it, or it draws nothing.
    """
    if font not in FONTS:
        raise ValueError(f"unknown font {font!r}; choose from {', '.join(FONTS)}")
    try:
        parsed = _PARSER.parse(f"${to_mathtext(latex)}$", dpi=DPI, prop=_font(font, fontsize))
    except ValueError as error:  # mathtext's parse errors are ValueErrors with a caret diagram
        # The last line holds the reason; drop the position so reasons can be counted.
        reason = str(error).strip().splitlines()[-1].split(", found ")[0]
        raise RenderError(reason) from error
    ink = np.asarray(parsed.image)
    rows, columns = np.nonzero(ink.max(axis=1))[0], np.nonzero(ink.max(axis=0))[0]
    if not len(rows):
        raise RenderError("nothing drawn")
    return ink[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]


def _on_paper(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    top, bottom, left, right = (int(m) for m in rng.integers(2, 9, 4))
    return cv2.copyMakeBorder(255 - ink, top, bottom, left, right, cv2.BORDER_CONSTANT, value=255)


_FONT_CACHE: dict[tuple[str, float], FontProperties] = {}


def _font(font: str, fontsize: float) -> FontProperties:
    # One FontProperties per (font, size): mathtext caches parses by it, and building it is slow.
    key = (font, round(fontsize, 1))
    if key not in _FONT_CACHE:
        _FONT_CACHE[key] = FontProperties(size=key[1], math_fontfamily=font)
    return _FONT_CACHE[key]


@dataclass
class RenderStats:
    """What one run rendered and what it had to skip, by reason."""

    written: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> count
    seconds: float = 0.0


def read_formulas(path: str | Path, dictionary: frozenset[str]) -> tuple[list[str], list[str]]:
    """Canonical formulas of a label file (``id<TAB>tokens`` or ``tokens`` per line), and one
    problem message (file:line) for each line that is empty or leaves the dictionary."""
    formulas, problems = [], []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        label = canonical_latex(line.rsplit("\t", 1)[-1])
        unknown = sorted(set(tokenize_latex(label)) - dictionary)
        if not label:
            problems.append(f"{path}:{number}: empty formula")
        elif unknown:
            problems.append(f"{path}:{number}: tokens outside the dictionary: {' '.join(unknown)}")
        else:
            formulas.append(label)
    return formulas, problems


def render_dataset(
    out: Path,
    split: str,
    count: int,
    seed: int,
    fonts: tuple[str, ...],
    generator: FormulaGenerator,
    formulas: list[str] | None = None,
    generated_share: float = 0.5,
    fontsize: tuple[float, float] = (12.0, 28.0),
) -> RenderStats:
    """Render ``count`` images into ``out`` in the Data-for-LaTeX_OCR layout for ``split``.

    File formulas are taken in a shuffled cycle (each is used about equally often); a share
    ``generated_share`` of the images shows generated formulas instead (all of them when no
    file is given). Formulas mathtext cannot render are skipped and listed in
    ``out/skipped_{split}.txt`` with the reason, and other formulas are drawn in their place.
    """
    rng = np.random.default_rng(seed)
    images = out / "images" / f"images_{split}"
    images.mkdir(parents=True, exist_ok=True)
    (out / "formulas").mkdir(exist_ok=True)
    (out / "matching").mkdir(exist_ok=True)
    next_formula = FormulaSource(generator, formulas, generated_share)
    lines: dict[str, int] = {}  # formula -> its line in the formulas file
    matching: list[str] = []
    skipped_rows: list[str] = []
    stats = RenderStats()
    start = time.perf_counter()
    while stats.written < count:
        label = next_formula(rng)
        font = fonts[int(rng.integers(len(fonts)))]
        try:
            ink = rasterize_formula(label, font, rng.uniform(*fontsize))
        except RenderError as error:
            stats.skipped[str(error)] += 1
            skipped_rows.append(f"{font}\t{error}\t{label}")
            if len(skipped_rows) > max(100, count):
                raise RuntimeError(f"most formulas fail to render; last: {error}") from error
            continue
        name = f"{stats.written}.png"
        cv2.imwrite(str(images / name), _on_paper(ink, rng))
        matching.append(f"{name} {lines.setdefault(label, len(lines))}")
        stats.written += 1
    stats.seconds = time.perf_counter() - start
    (out / "formulas" / f"{split}.formulas.norm.txt").write_text(
        "".join(f"{label}\n" for label in lines), encoding="utf-8"
    )
    (out / "matching" / f"{split}.matching.txt").write_text(
        "".join(f"{row}\n" for row in matching), encoding="utf-8"
    )
    (out / f"skipped_{split}.txt").write_text(
        "".join(f"{row}\n" for row in skipped_rows), encoding="utf-8"
    )
    return stats


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--split", default="train", help="split name of the output layout")
    parser.add_argument("--count", type=int, required=True, help="number of images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--fonts", default=",".join(TRAIN_FONTS),
        help=f"comma-separated subset of {','.join(FONTS)}; {HELD_OUT_FONT} is the held-out font",
    )  # fmt: skip
    parser.add_argument("--formulas", type=Path, help="label file: 'id<TAB>tokens' or 'tokens'")
    parser.add_argument(
        "--generated-share", type=float, default=0.5,
        help="share of images with generated formulas when --formulas is given",
    )  # fmt: skip
    parser.add_argument(
        "--dictionary", type=Path, default=Path("../shared/data/crohme/dictionary.txt"),
        help="allowed tokens (CROHME dictionary.txt)",
    )  # fmt: skip
    parser.add_argument("--max-tokens", type=int, default=45, help="longest generated formula")
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> None:
    # mathtext logs a whole box tree (about 40 lines) whenever it stretches glue in a tall
    # layout; the image is fine, and those dumps buried the summary below.
    logging.getLogger("matplotlib.mathtext").setLevel(logging.ERROR)
    fonts = tuple(f.strip() for f in args.fonts.split(",") if f.strip())
    unknown = sorted(set(fonts) - set(FONTS))
    if unknown or not fonts:
        raise SystemExit(f"unknown fonts {unknown}; choose from {','.join(FONTS)}")
    if args.split == "train" and HELD_OUT_FONT in fonts:
        print(f"warning: {HELD_OUT_FONT} is the held-out test font; training on it voids that test")
    dictionary = load_dictionary(args.dictionary)
    formulas = None
    if args.formulas:
        formulas, problems = read_formulas(args.formulas, dictionary)
        for problem in problems:
            print(f"skipped {problem}")
        print(f"{len(formulas)} formulas from {args.formulas}, {len(problems)} lines skipped")
        if not formulas:
            raise SystemExit(f"no usable formulas in {args.formulas}")
    stats = render_dataset(
        args.out, args.split, args.count, args.seed, fonts,
        FormulaGenerator(dictionary, max_tokens=args.max_tokens), formulas, args.generated_share,
    )  # fmt: skip
    skipped = sum(stats.skipped.values())
    print(
        f"wrote {stats.written} images to {args.out} (split {args.split}, fonts {','.join(fonts)})"
        f" in {stats.seconds:.1f} s: {stats.written / stats.seconds:.1f} formulas/s;"
        f" {skipped} formulas mathtext could not render (listed in skipped_{args.split}.txt)"
    )
    for reason, n in stats.skipped.most_common():
        print(f"  {n} x {reason}")


if __name__ == "__main__":
    main(parse_args())
