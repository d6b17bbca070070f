"""CTC decoding over log-probabilities (``T x C`` numpy arrays, blank = ``BLANK``).

Confidence of a decoded formula: the lowest peak probability among its emitted tokens (for each
token, the highest probability it reached over the frames of its run). One doubtful symbol makes
the formula doubtful, which is what a reviewer needs to know; a mean would hide it. An empty
output takes the mean blank probability.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from ocr_model.language_model import END, Fusion
from ocr_model.syntax import Syntax

BLANK = 0


def greedy_decode(log_probs: np.ndarray) -> tuple[list[int], float]:
    """Best path: argmax per frame, merge repeats, drop blanks.

    Args:
        log_probs: ``T x C`` log-probabilities of one sample (valid frames only).

    Returns:
        The token ids and the confidence in 0..1.
    """
    if len(log_probs) == 0:
        return [], 0.0
    best = log_probs.argmax(axis=1)
    peak = np.exp(log_probs.max(axis=1))
    ids: list[int] = []
    token_peaks: list[float] = []
    previous = BLANK
    for frame, token in enumerate(best):
        if token != BLANK:
            if token != previous:
                ids.append(int(token))
                token_peaks.append(float(peak[frame]))
            else:
                token_peaks[-1] = max(token_peaks[-1], float(peak[frame]))
        previous = token
    if not ids:
        return [], float(np.exp(log_probs[:, BLANK]).mean())
    return ids, min(token_peaks)


def _logsumexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    high = max(a, b)
    return high + math.log1p(math.exp(-abs(a - b)))


def beam_decode(
    log_probs: np.ndarray,
    beam_width: int = 8,
    prune: float = -6.0,
    tokens: Sequence[str] | None = None,
    fusion: Fusion | None = None,
) -> tuple[list[int], float]:
    """CTC prefix beam search, optionally kept to valid LaTeX and ranked with a language model.

    Args:
        log_probs: ``T x C`` log-probabilities of one sample.
        beam_width: prefixes kept per frame.
        prune: skip tokens whose frame log-probability is below this. -6 (p < 0.25 %) decoded
            hand/val and CROHME 2013 exactly as -12 did, 6x faster (benchmarks/README.md).
        tokens: the token of each class id; given, the beam keeps only prefixes that can still
            end as valid LaTeX (``ocr_model.syntax``) and prefers a complete one at the end.
        fusion: a language model that joins the CTC probability in ranking prefixes (shallow
            fusion, ``ocr_model.language_model``); needs ``tokens``.

    Returns:
        The most probable token ids and a confidence in 0..1: the greedy confidence of the
        best path when beam and greedy agree, else the best prefix's share of the beam's mass.
    """
    if fusion is not None and tokens is None:
        raise ValueError("a language model needs the tokens of the class ids")
    if len(log_probs) == 0:
        return [], 0.0
    # prefix -> (log P ending in blank, log P ending in non-blank)
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}
    syntax: dict[tuple[int, ...], Syntax | None] = {(): Syntax()}  # None: cannot be valid
    bonus: dict[tuple[int, ...], float] = {(): 0.0}  # the language model's share of the rank
    for frame, kept in zip(log_probs, log_probs >= prune, strict=True):
        candidates = np.flatnonzero(kept).tolist()
        if candidates == [BLANK]:
            # Most frames (59-73 % on the validation sets): every prefix only gains a blank and
            # the ranking cannot change, so skip the merge and the sort (half the decode time).
            p = float(frame[BLANK])
            beams = {prefix: (_logsumexp(*mass) + p, -math.inf) for prefix, mass in beams.items()}
            continue
        scored = [(c, float(frame[c])) for c in candidates]
        nxt: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [-math.inf, -math.inf])
        for prefix, (p_blank, p_token) in beams.items():
            total = _logsumexp(p_blank, p_token)
            for c, p in scored:
                if c == BLANK:
                    entry = nxt[prefix]
                    entry[0] = _logsumexp(entry[0], total + p)
                    continue
                repeat = bool(prefix) and prefix[-1] == c
                if repeat:  # the token's run goes on: still the same prefix
                    same = nxt[prefix]
                    same[1] = _logsumexp(same[1], p_token + p)
                extended = (*prefix, c)
                if tokens is not None:
                    if extended not in syntax:
                        state = syntax[prefix]
                        syntax[extended] = _advance(state, tokens[c]) if state else None
                    if syntax[extended] is None:
                        continue
                    if fusion is not None and extended not in bonus:
                        history = [tokens[i] for i in prefix]
                        bonus[extended] = bonus[prefix] + fusion.step(history, tokens[c])
                entry = nxt[extended]
                # a repeat needs a blank in between to count twice
                entry[1] = _logsumexp(entry[1], (p_blank if repeat else total) + p)
        if not nxt:
            continue  # every way on breaks the syntax: leave this frame out
        ranked = sorted(nxt.items(), key=lambda kv: _rank(kv[0], kv[1], bonus), reverse=True)
        beams = {prefix: (pb, pt) for prefix, (pb, pt) in ranked[:beam_width]}
    scores = {prefix: _logsumexp(*p) for prefix, p in beams.items()}
    complete = [prefix for prefix in scores if tokens is not None and syntax[prefix].complete]

    def final_rank(prefix: tuple[int, ...]) -> float:
        if fusion is None:
            return scores[prefix]
        ending = fusion.step([tokens[i] for i in prefix], END)  # how likely the formula ends here
        return scores[prefix] + bonus[prefix] + ending

    best = max(complete or scores, key=final_rank)
    greedy_ids, greedy_confidence = greedy_decode(log_probs)
    if list(best) == greedy_ids:
        return greedy_ids, greedy_confidence
    mass = math.exp(scores[best] - _logsumexp_all(list(scores.values())))
    return list(best), mass


def _rank(prefix: tuple[int, ...], mass: list[float], bonus: dict[tuple[int, ...], float]) -> float:
    return _logsumexp(*mass) + bonus.get(prefix, 0.0)


@functools.lru_cache(maxsize=4096)
def _advance(state: Syntax, token: str) -> Syntax | None:
    """``state.then(token)``, cached: few states recur across prefixes and formulas."""
    return state.then(token)


def _logsumexp_all(values: list[float]) -> float:
    total = -math.inf
    for v in values:
        total = _logsumexp(total, v)
    return total
