"""Recognition metrics on canonical token sequences.

- ExpRate: share of formulas whose canonical tokens equal the reference exactly; also with at
  most 1 and 2 token errors (edit distance), as in the CROHME papers.
- Token error rate: total token edit distance / total reference tokens.
- Positional accuracy: the reference recognizer's own metric (``shared/reference.md``): the
  prediction and reference token lists joined with single spaces into strings, compared
  character by character at the same index, matches divided by the reference string length,
  averaged over formulas. Extra trailing output is not penalised, exactly as there.
"""

from __future__ import annotations

from collections.abc import Sequence


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance between token sequences."""
    previous = list(range(len(b) + 1))
    for i, token in enumerate(a, 1):
        current = [i]
        for j, other in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (token != other))
            )
        previous = current
    return previous[-1]


def positional_accuracy(prediction: str, reference: str) -> float:
    """Share of reference characters matched at the same index (the reference's metric)."""
    if not reference:
        return float(not prediction)
    matches = sum(p == r for p, r in zip(prediction, reference, strict=False))
    return matches / len(reference)


def score(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Metrics over paired canonical LaTeX strings (space-separated tokens).

    Returns:
        ``n``, ``exprate``, ``exprate_le1``, ``exprate_le2``, ``token_error_rate``,
        ``positional_acc``.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    n = len(references)
    if n == 0:
        return {
            "n": 0,
            "exprate": 0.0,
            "exprate_le1": 0.0,
            "exprate_le2": 0.0,
            "token_error_rate": 0.0,
            "positional_acc": 0.0,
        }
    distances = [
        edit_distance(p.split(), r.split()) for p, r in zip(predictions, references, strict=True)
    ]
    reference_tokens = sum(len(r.split()) for r in references)
    return {
        "n": n,
        "exprate": sum(d == 0 for d in distances) / n,
        "exprate_le1": sum(d <= 1 for d in distances) / n,
        "exprate_le2": sum(d <= 2 for d in distances) / n,
        "token_error_rate": sum(distances) / max(1, reference_tokens),
        "positional_acc": sum(
            positional_accuracy(p, r) for p, r in zip(predictions, references, strict=True)
        )
        / n,
    }
