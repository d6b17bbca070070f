"""repair_latex: decoded tokens become valid LaTeX, and a repair is reported."""

from __future__ import annotations

import pytest

from ocr_model.postprocess import repair_latex


@pytest.mark.parametrize(
    ("tokens", "repaired"),
    [
        ("x ^ { 2 } }", "x ^ { 2 }"),  # a close without an open is dropped
        ("} x", "x"),
        (r"\frac { a } { b", r"\frac { a } { b }"),  # unclosed groups are closed at the end
        (r"\sqrt { { x", r"\sqrt { { x } }"),
        ("x ^", "x ^ { }"),  # a dangling script gets an empty group
        (r"a + \frac", r"a + \frac { } { }"),
    ],
)
def test_unbalanced_output_is_repaired_and_reported(tokens: str, repaired: str) -> None:
    out, changed = repair_latex(tokens.split())
    assert " ".join(out) == repaired
    assert changed


@pytest.mark.parametrize("tokens", [r"\frac { a } { b }", "x ^ { 2 } + 1", "", "( x )"])
def test_valid_output_is_left_alone(tokens: str) -> None:
    out, changed = repair_latex(tokens.split())
    assert out == tokens.split()
    assert not changed
