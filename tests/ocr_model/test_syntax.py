"""LaTeX syntax states of canonical token prefixes (what the beam search may still extend)."""

from __future__ import annotations

import pytest

from ocr_model.syntax import parse


@pytest.mark.parametrize(
    "latex",
    [
        "x ^ { 2 } + y _ { i }",
        "\\frac { a + b } { c }",
        "\\frac { \\frac { 1 } { 2 } } { x ^ { \\frac { 1 } { n } } }",
        "\\sqrt { x } + \\sqrt [ 3 ] { y }",
        "[ a , b ) \\cup ( c , d ]",  # brackets outside \sqrt need not match
        "\\{ x \\}",
        "\\lim _ { x \\rightarrow 0 } \\frac { \\sin x } { x } = 1",
    ],
)
def test_valid_formulas_are_complete(latex: str) -> None:
    state = parse(latex.split())
    assert state is not None and state.complete


@pytest.mark.parametrize(
    "latex",
    [
        "x }",  # a close without an open
        "x ^ 2",  # a script without its group
        "x _ { }",  # an empty group
        "\\frac { a } b",  # a fraction without its denominator group
        "\\sqrt [ 3 } { x }",  # the root degree closed by a brace
    ],
)
def test_invalid_continuations_are_refused(latex: str) -> None:
    assert parse(latex.split()) is None


@pytest.mark.parametrize("latex", ["x ^ { 2", "\\frac { a }", "\\sqrt", "\\sqrt [ 3 ]", "x _"])
def test_unfinished_prefixes_are_valid_but_not_complete(latex: str) -> None:
    state = parse(latex.split())
    assert state is not None and not state.complete
