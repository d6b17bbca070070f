"""CTC decoding on hand-made probability matrices (blank = 0)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from ocr_model.decoding import BLANK, beam_decode, greedy_decode

CLASSES = 5


def peaked(path: list[int], peak: float = 0.9) -> np.ndarray:
    """``T x CLASSES`` log-probabilities whose best class per frame follows ``path``."""
    probs = np.full((len(path), CLASSES), (1.0 - peak) / (CLASSES - 1))
    probs[np.arange(len(path)), path] = peak
    return np.log(probs)


def test_greedy_merges_repeats_and_drops_blanks() -> None:
    ids, _ = greedy_decode(peaked([0, 1, 1, 0, 2, 2, 2, 0, 0, 3]))
    assert ids == [1, 2, 3]


def test_greedy_keeps_a_repeat_separated_by_blank() -> None:
    ids, _ = greedy_decode(peaked([1, 1, 0, 1, 2, 0, 2]))
    assert ids == [1, 1, 2, 2]


def test_all_blank_frames_decode_to_nothing_with_blank_confidence() -> None:
    ids, confidence = greedy_decode(peaked([BLANK] * 4, peak=0.8))
    assert ids == []
    assert confidence == pytest.approx(0.8)


def test_greedy_confidence_is_the_weakest_token_peak() -> None:
    log_probs = peaked([1, 1, 0, 2, 0, 3])
    log_probs[1] = np.log([0.02, 0.95, 0.01, 0.01, 0.01])  # token 1 reaches 0.95 in its run
    log_probs[3] = np.log([0.1, 0.2, 0.6, 0.05, 0.05])  # token 2 peaks at only 0.6
    ids, confidence = greedy_decode(log_probs)
    assert ids == [1, 2, 3]
    assert confidence == pytest.approx(0.6)


def test_empty_input_decodes_to_nothing() -> None:
    assert greedy_decode(np.zeros((0, CLASSES))) == ([], 0.0)
    assert beam_decode(np.zeros((0, CLASSES))) == ([], 0.0)


@pytest.mark.parametrize("path", [[0, 1, 1, 0, 2, 0, 0, 3, 3], [2, 0, 2, 4, 4, 0], [0, 0, 0]])
def test_beam_equals_greedy_on_a_peaked_matrix(path: list[int]) -> None:
    log_probs = peaked(path, peak=0.97)
    assert beam_decode(log_probs, beam_width=4) == greedy_decode(log_probs)


def test_beam_finds_the_prefix_that_greedy_misses() -> None:
    # Best path is "blank blank" (0.6 * 0.6 = 0.36), but token 1 spread over both frames wins:
    # P("1") = 0.4*0.4 + 0.4*0.6 + 0.6*0.4 = 0.64 > P("") = 0.36.
    log_probs = np.log(np.array([[0.6, 0.4, 1e-9, 1e-9, 1e-9]] * 2))
    assert greedy_decode(log_probs)[0] == []
    ids, confidence = beam_decode(log_probs, beam_width=4)
    assert ids == [1]
    assert confidence == pytest.approx(0.64, abs=1e-6)


def test_confidence_stays_in_unit_interval_on_random_matrices() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        logits = rng.normal(size=(12, CLASSES)) * 3
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        for decode in (greedy_decode, beam_decode):
            ids, confidence = decode(log_probs)
            assert 0.0 <= confidence <= 1.0
            assert all(0 < i < CLASSES for i in ids)


def collapse(alignment: tuple[int, ...]) -> tuple[int, ...]:
    merged = [c for i, c in enumerate(alignment) if i == 0 or c != alignment[i - 1]]
    return tuple(c for c in merged if c != BLANK)


@pytest.mark.parametrize("seed", range(6))
def test_wide_beam_finds_the_most_probable_labelling(seed: int) -> None:
    """Against every alignment summed by brute force, with near-certain blank frames mixed in
    (where the decoder takes its blank-only shortcut) and repeats that need a blank between."""
    classes, frames = 3, 6
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(classes) * 0.7, size=frames)
    probs[rng.choice(frames, size=2, replace=False)] = [0.9995, 0.00025, 0.00025]
    log_probs = np.log(probs)
    by_label: dict[tuple[int, ...], float] = {}
    for alignment in itertools.product(range(classes), repeat=frames):
        p = math.prod(probs[t, c] for t, c in enumerate(alignment))
        label = collapse(alignment)
        by_label[label] = by_label.get(label, 0.0) + p
    best = max(by_label, key=by_label.get)
    ids, _ = beam_decode(log_probs, beam_width=classes**frames, prune=-math.inf)
    assert tuple(ids) == best
    pruned, _ = beam_decode(log_probs, beam_width=classes**frames)
    assert tuple(pruned) == best


def test_syntax_keeps_the_beam_to_valid_latex() -> None:
    # "x }" is the likelier reading (0.9 * 0.6) but closes a group never opened; "x" is valid.
    tokens = ["", "x", "^", "{", "}"]
    log_probs = np.log(np.array([[0.1, 0.9, 1e-9, 1e-9, 1e-9], [0.4, 1e-9, 1e-9, 1e-9, 0.6]]))
    assert beam_decode(log_probs, beam_width=4)[0] == [1, 4]
    ids, confidence = beam_decode(log_probs, beam_width=4, tokens=tokens)
    assert ids == [1]
    assert 0.0 < confidence < 1.0


def test_syntax_prefers_a_complete_formula_at_the_end() -> None:
    # "x ^" is likelier than "x", but a script owes its group: the beam ends on "x".
    tokens = ["", "x", "^", "{", "}"]
    log_probs = np.log(np.array([[0.1, 0.9, 1e-9, 1e-9, 1e-9], [0.3, 1e-9, 0.7, 1e-9, 1e-9]]))
    assert beam_decode(log_probs, beam_width=4)[0] == [1, 2]
    assert beam_decode(log_probs, beam_width=4, tokens=tokens)[0] == [1]
