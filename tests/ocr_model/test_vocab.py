"""Tokenizer: both label dialects normalize to one canonical token sequence, and back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ocr_model.vocab import UnknownTokenError, Vocabulary, canonical_latex, tokenize_latex

HAND_CAPTIONS = [
    r"\sqrt { x - y - z + x ^ { 2 } + y ^ { 2 } + z ^ { 2 } }",
    r"\frac { \sin \theta + \cos \theta + \tan \theta } { x + y + z }",
    r"\sum _ { i = 1 } ^ { n } a _ { i } \geq 0",
]


@pytest.mark.parametrize("caption", HAND_CAPTIONS)
def test_canonical_captions_round_trip_unchanged(caption: str) -> None:
    assert canonical_latex(caption) == caption
    assert canonical_latex(canonical_latex(caption)) == caption


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        (r"\frac{a}{b}", r"\frac { a } { b }"),
        (r"\frac ab", r"\frac { a } { b }"),
        (r"\frac12 + x^2", r"\frac { 1 } { 2 } + x ^ { 2 }"),
        ("x^2", "x ^ { 2 }"),
        ("x_1^2", "x _ { 1 } ^ { 2 }"),
        (r"\sqrt[3]{x}", r"\sqrt [ 3 ] { x }"),
        (r"\sqrt x", r"\sqrt { x }"),
        (r"\dfrac{1}{2}", r"\frac { 1 } { 2 }"),
        (r"a \le b \ne c", r"a \leq b \neq c"),
        (r"\lim\limits_{x \to 0}", r"\lim _ { x \rightarrow 0 }"),
        (r"\left(x\right)", "( x )"),
        (r"\left\{ x \right\}", r"\{ x \}"),
        (r"a \, b \quad c", "a b c"),
        (r"\int f(x) \mathrm{d}x", r"\int f ( x ) d x"),
        (r"\mathrm d x", "d x"),
        (r"x^{\text{ab}}", "x ^ { a b }"),
    ],
)
def test_user_latex_normalizes_to_caption_form(written: str, canonical: str) -> None:
    assert canonical_latex(written) == canonical


@pytest.mark.parametrize(
    ("caption", "canonical"),
    [
        (r"\left( x \right)", "( x )"),
        (r"\left( x ^ { 3 } - x \right) \left( 2 x - 7 \right)", "( x ^ { 3 } - x ) ( 2 x - 7 )"),
        (r"a \lt b", "a < b"),
        (r"a \gt b", "a > b"),
        (r"\left. x \right|", "x |"),
    ],
)
def test_hand_set_aliases_normalize(caption: str, canonical: str) -> None:
    assert canonical_latex(caption) == canonical


@pytest.mark.parametrize(
    "written",
    ["f'(x)", r"f ^ { ' } ( x )", r"f ^ { \prime } ( x )", r"f^\prime(x)"],
)
def test_prime_spellings_normalize_to_one(written: str) -> None:
    assert canonical_latex(written) == r"f ^ { \prime } ( x )"


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("f''", r"f ^ { \prime \prime }"),
        ("x ^ { ' ' }", r"x ^ { \prime \prime }"),
        (r"y \prime", r"y \prime"),  # a prime on the baseline is another symbol
    ],
)
def test_prime_runs_and_baseline_prime(written: str, canonical: str) -> None:
    assert canonical_latex(written) == canonical
    assert canonical_latex(canonical) == canonical


def test_both_dialects_give_the_same_tokens() -> None:
    assert tokenize_latex(r"\frac{x^2}{\sqrt{y}}") == tokenize_latex(
        r"\frac { x ^ { 2 } } { \sqrt { y } }"
    )


def test_vocabulary_encode_decode_round_trip(tiny_vocab: Vocabulary) -> None:
    label = r"\frac { a } { b } + x ^ { 2 }"
    ids = tiny_vocab.encode(label)
    assert all(0 < i < len(tiny_vocab) for i in ids)
    assert " ".join(tiny_vocab.decode(ids)) == label
    assert tiny_vocab.encode(r"\frac{a}{b}+x^2") == ids


def test_blank_id_is_zero_and_never_decoded(tiny_vocab: Vocabulary) -> None:
    ids = tiny_vocab.encode("x")
    assert tiny_vocab.decode([0, *ids, 0]) == ["x"]
    assert len(tiny_vocab) == len(tiny_vocab.tokens) + 1


def test_unknown_tokens_are_reported_not_dropped(tiny_vocab: Vocabulary) -> None:
    with pytest.raises(UnknownTokenError) as caught:
        tiny_vocab.encode(r"x + \alpha + \beta + \alpha")
    assert caught.value.tokens == [r"\alpha", r"\beta"]
    assert r"\alpha" in str(caught.value) and r"\beta" in str(caught.value)


def test_vocabulary_build_is_sorted_and_stable() -> None:
    first = Vocabulary.build(["b + a", "c"])
    second = Vocabulary.build(["c", "a + b"])
    assert first == second
    assert first.tokens == ("+", "a", "b", "c")


def test_bundled_example_labels_are_canonical() -> None:
    """The example's answer key compares string for string with what the recognizer writes."""
    labels_path = Path(__file__).resolve().parents[2] / "examples" / "sample.labels.json"
    pages = json.loads(labels_path.read_text())["pages"]
    labels = [label for page in pages for label in page]
    assert len(labels) == 10
    assert all(canonical_latex(label) == label for label in labels)
