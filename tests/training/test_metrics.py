import pytest

from training.metrics import edit_distance, positional_accuracy, score


def test_edit_distance_counts_insertions_deletions_substitutions():
    assert edit_distance(["a", "+", "b"], ["a", "+", "b"]) == 0
    assert edit_distance(["a", "+", "b"], ["a", "-", "b"]) == 1
    assert edit_distance(["a", "b"], ["a", "+", "b"]) == 1
    assert edit_distance([], ["x", "y"]) == 2


def test_score_counts_exact_one_and_two_error_formulas():
    references = ["a + b", "x ^ { 2 }", "1 + 2 + 3", "y"]
    predictions = ["a + b", "x ^ { 3 }", "1 - 2 - 3", "z w v"]
    metrics = score(predictions, references)
    assert metrics["n"] == 4
    assert metrics["exprate"] == pytest.approx(0.25)
    assert metrics["exprate_le1"] == pytest.approx(0.5)
    assert metrics["exprate_le2"] == pytest.approx(0.75)
    assert metrics["token_error_rate"] == pytest.approx((0 + 1 + 2 + 3) / (3 + 5 + 5 + 1))


def test_positional_accuracy_is_the_reference_metric():
    # Same index comparison: one early insertion ruins the rest; trailing extras are free.
    assert positional_accuracy("a + b", "a + b") == 1.0
    assert positional_accuracy("a + b c d", "a + b") == 1.0
    assert positional_accuracy("x a + b", "a + b") == pytest.approx(2 / 5)  # only spaces align
    assert positional_accuracy("a - b", "a + b") == pytest.approx(4 / 5)


def test_score_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        score(["a"], ["a", "b"])
