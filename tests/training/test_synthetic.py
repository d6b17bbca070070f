"""Synthetic printed formulas: canonical dictionary-only labels and a readable output folder."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ocr_model.syntax import parse
from ocr_model.vocab import Vocabulary, canonical_latex
from training.datasets import load_dictionary, read_latex_ocr
from training.render_synthetic import (
    HELD_OUT_FONT,
    TRAIN_FONTS,
    FormulaGenerator,
    PrintedInk,
    PrintedRecord,
    draw_printed,
    main,
    parse_args,
    rasterize_formula,
    read_formulas,
    render_dataset,
)

DICTIONARY_FILE = Path(__file__).parents[1] / "fixtures" / "crohme_dictionary.txt"


@pytest.fixture(scope="module")
def dictionary() -> frozenset[str]:
    return load_dictionary(DICTIONARY_FILE)


@pytest.fixture(scope="module")
def generated(dictionary: frozenset[str]) -> list[str]:
    generate = FormulaGenerator(dictionary)
    rng = np.random.default_rng(0)
    return [generate(rng) for _ in range(500)]


def test_generated_formulas_are_complete_latex_for_the_beam(generated: list[str]) -> None:
    # The beam search only ends on complete syntax: a formula failing it could never be read.
    for latex in generated:
        state = parse(latex.split())
        assert state is not None and state.complete, latex


def test_crohme_dictionary_is_read_without_the_end_marker(dictionary: frozenset[str]) -> None:
    assert len(dictionary) == 110 and "<eol>" not in dictionary and "\\frac" in dictionary


def test_generated_labels_are_canonical_and_round_trip_through_the_vocabulary(
    dictionary: frozenset[str], generated: list[str]
) -> None:
    vocab = Vocabulary(tuple(sorted(dictionary)))
    for label in generated:
        assert canonical_latex(label) == label
        assert " ".join(vocab.decode(vocab.encode(label))) == label


def test_generator_uses_only_dictionary_tokens(generated: list[str]) -> None:
    crohme = load_dictionary(DICTIONARY_FILE)
    assert all(crohme.issuperset(label.split()) for label in generated)
    # Without Greek letters, sums, 7 and \times its pools hold tokens it must now avoid.
    smaller = crohme - {"\\alpha", "\\beta", "\\pi", "\\theta", "\\sum", "7", "\\times"}
    generate = FormulaGenerator(smaller)
    rng = np.random.default_rng(1)
    for _ in range(200):
        assert smaller.issuperset(generate(rng).split())


def test_generator_covers_the_structures_of_handwritten_formulas(generated: list[str]) -> None:
    tokens = {token for label in generated for token in label.split()}
    wanted = {"\\frac", "\\sqrt", "^", "_", "\\sum", "\\int", "\\lim", "\\sin", "\\log", "\\alpha",
              "(", "[", "\\{", "|", "\\rightarrow", "\\ldots", "\\leq", "!", "\\infty"}  # fmt: skip
    assert wanted <= tokens
    nested = [label for label in generated if label.count("\\frac") + label.count("\\sqrt") >= 2]
    assert len(nested) > 10
    assert len(set(generated)) > 450  # hardly any repeats


def test_generator_is_deterministic_under_a_seed(dictionary: frozenset[str]) -> None:
    generate = FormulaGenerator(dictionary)
    first = [generate(np.random.default_rng(seed)) for seed in range(5)]
    assert first == [generate(np.random.default_rng(seed)) for seed in range(5)]


@pytest.mark.parametrize("font", [*TRAIN_FONTS, HELD_OUT_FONT])
def test_drawn_formula_is_dark_ink_on_white_paper_with_a_margin(font: str) -> None:
    record = PrintedRecord(r"\frac { x ^ { 2 } } { 2 } + \sqrt { y }")
    image = draw_printed(record, np.random.default_rng(0), PrintedInk(), (font,), (20.0, 20.0))
    assert image is not None and image.dtype == np.uint8 and image.ndim == 2
    assert 20 < image.shape[0] < 120 and image.shape[1] > image.shape[0]
    assert image.min() < 60 and (image[0] == 255).all() and (image[:, -1] == 255).all()


def test_formula_no_font_can_draw_gives_none() -> None:
    record = PrintedRecord("x ^ { 2 } ^ { 3 }")
    assert draw_printed(record, np.random.default_rng(0), PrintedInk()) is None


def test_printed_ink_is_parsed_once_per_formula_and_font_and_scaled_to_each_size() -> None:
    inks = PrintedInk(size=28)
    formula = r"\frac { a } { b } + x ^ { 2 }"
    full = inks(formula, "cm", 28)
    assert np.array_equal(full, rasterize_formula(formula, "cm", 28))
    assert inks.kept_bytes == full.nbytes
    half = inks(formula, "cm", 14)
    assert inks.kept_bytes == full.nbytes  # the kept raster, scaled: nothing new kept
    assert (
        abs(half.shape[0] - full.shape[0] / 2) <= 1 and abs(half.shape[1] - full.shape[1] / 2) <= 1
    )
    # About what mathtext draws at that size: same extent within a few pixels, same ink mass.
    direct = rasterize_formula(formula, "cm", 14)
    assert np.abs(np.subtract(half.shape, direct.shape)).max() <= 3
    assert 0.6 < half.sum() / direct.sum() < 1.4
    inks("x", "stix", 20)
    assert inks.kept_bytes > full.nbytes  # another font is another raster


def test_printed_ink_remembers_formulas_mathtext_cannot_draw() -> None:
    inks = PrintedInk()
    assert inks("x ^ { 2 } ^ { 3 }", "cm", 20) is None
    assert inks("x ^ { 2 } ^ { 3 }", "cm", 12) is None
    assert inks.kept_bytes == 0


def test_printed_ink_past_its_byte_budget_still_draws_but_keeps_nothing_more() -> None:
    inks = PrintedInk(max_bytes=1)
    first = inks("x + 1", "cm", 28)
    kept = inks.kept_bytes
    assert first is not None and kept == first.nbytes
    assert inks("y - 2", "cm", 28) is not None
    assert inks.kept_bytes == kept


def test_drawn_printed_formula_is_deterministic_under_a_seed() -> None:
    record = PrintedRecord(r"\sqrt { x + 1 }")
    inks = PrintedInk()
    first = draw_printed(record, np.random.default_rng(7), inks)
    again = draw_printed(record, np.random.default_rng(7), PrintedInk())
    kept = draw_printed(record, np.random.default_rng(7), inks)
    assert first is not None and first.dtype == np.uint8 and first.min() < 100
    assert np.array_equal(first, again) and np.array_equal(first, kept)


def test_rendered_folder_is_read_back_with_its_labels(tmp_path: Path) -> None:
    formulas = tmp_path / "captions.txt"
    formulas.write_text(
        "a\tx ^ { 2 } + 1 = y\nb\t\\frac { a } { b }\nc\tx ^ 2 ^ 3\nd\tx \\heartsuit\n"
    )
    out = tmp_path / "out"
    main(parse_args(["--out", str(out), "--count", "8", "--generated-share", "0", "--formulas",
                     str(formulas), "--dictionary", str(DICTIONARY_FILE)]))  # fmt: skip
    read = read_latex_ocr(out, "train")
    assert read.problems == [] and len(read.samples) == 8
    dictionary = load_dictionary(DICTIONARY_FILE)
    for sample in read.samples:
        assert canonical_latex(sample.label) == sample.label
        assert dictionary.issuperset(sample.label.split())
        image = cv2.imread(str(sample.path), cv2.IMREAD_GRAYSCALE)
        assert image.min() < 100 and image.max() == 255
    assert {sample.label for sample in read.samples} == {"x ^ { 2 } + 1 = y", r"\frac { a } { b }"}
    # mathtext cannot draw the double superscript: it is listed with the reason, not dropped.
    skipped = (out / "skipped_train.txt").read_text()
    assert "Double superscript\tx ^ { 2 } ^ { 3 }" in skipped


def test_unrenderable_formulas_are_counted_and_replaced(tmp_path: Path) -> None:
    generate = FormulaGenerator(load_dictionary(DICTIONARY_FILE))
    stats = render_dataset(
        tmp_path, "test", 3, 0, ("cm",), generate, ["x ^ { 2 } ^ { 3 }", "x + 1"], 0.0
    )
    assert stats.written == 3 and stats.skipped["ParseFatalException: Double superscript"] > 0
    assert "x ^ { 2 } ^ { 3 }" in (tmp_path / "skipped_test.txt").read_text()
    formulas = (tmp_path / "formulas" / "test.formulas.norm.txt").read_text().split("\n")
    assert formulas == ["x + 1", ""]


def test_formula_file_lines_outside_the_dictionary_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("x + 1\n\nx \\heartsuit\n")
    formulas, problems = read_formulas(path, load_dictionary(DICTIONARY_FILE))
    assert formulas == ["x + 1"]
    assert problems == [f"{path}:2: empty formula",
                        f"{path}:3: tokens outside the dictionary: \\heartsuit"]  # fmt: skip
