"""A token n-gram language model of formulas, fused into the CTC beam search.

The recognizer reads each symbol almost on its own; what formulas usually look like (``\\sin``
followed by ``x``, ``d x`` after an integral, a ``)`` after a ``(``) it cannot see across the
image. An interpolated Kneser-Ney n-gram over canonical tokens, fitted on the training labels
(``python -m training.fit_language_model``), adds that knowledge to the beam's ranking: on
CROHME 2013 it turned 1.4 % more formulas right (benchmarks/README.md, "Language model").

Pure Python and a gzipped JSON file of counts: no torch, nothing to download.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ocr_model.checkpoint import MODEL_DATA, CheckpointError
from ocr_model.files import atomic_write

DEFAULT_LANGUAGE_MODEL = MODEL_DATA / "language.json.gz"

START, END = "<s>", "</s>"
FORMAT = "formula-ocr-ngram-1"


class LanguageModelError(CheckpointError):
    """A language-model file that cannot be used (missing, corrupt, or of another format); a
    ``CheckpointError``, as the model files' errors are handled alike."""


class TokenLanguageModel:
    """Interpolated Kneser-Ney n-gram: P(token | the ``order - 1`` tokens before it).

    Args:
        counts: per history length k (0 .. order - 1), history (tokens joined by spaces) ->
            {token: count}. The longest histories hold raw counts, shorter ones continuation
            counts (in how many contexts a token follows the history), as Kneser-Ney wants.
        discount: subtracted from every count and given to the shorter history.
        sha256: of the file it was loaded from; results record it.
    """

    def __init__(
        self, counts: list[dict[str, dict[str, int]]], discount: float = 0.75, sha256: str = ""
    ):
        if not counts or not 0.0 < discount < 1.0:
            raise LanguageModelError("a language model needs counts and a discount in (0, 1)")
        self.order = len(counts)
        self.discount = discount
        self.sha256 = sha256
        self._counts = [
            {history: (table, sum(table.values())) for history, table in level.items()}
            for level in counts
        ]
        self._vocabulary_size = len(
            {t for level in counts for table in level.values() for t in table}
        )
        # Cached per model: the beam asks about the same few contexts over and over.
        self.log_prob = functools.lru_cache(maxsize=1 << 17)(self._log_prob)

    @classmethod
    def fit(
        cls, formulas: Iterable[Sequence[str]], order: int = 4, discount: float = 0.75
    ) -> TokenLanguageModel:
        """Count n-grams of token sequences (each ends with ``END``)."""
        if order < 1:
            raise LanguageModelError(f"order must be at least 1, got {order}")
        raw: list[defaultdict[tuple[str, ...], Counter]] = [
            defaultdict(Counter) for _ in range(order)
        ]
        for formula in formulas:
            padded = [START] * (order - 1) + list(formula) + [END]
            for i in range(order - 1, len(padded)):
                for k in range(order):
                    raw[k][tuple(padded[i - k : i])][padded[i]] += 1
        levels: list[defaultdict[tuple[str, ...], Counter]] = [
            defaultdict(Counter) for _ in range(order)
        ]
        levels[-1] = raw[-1]
        for k in range(1, order):
            for history, table in raw[k].items():
                for token in table:
                    levels[k - 1][history[1:]][token] += 1
        counts = [
            {" ".join(history): dict(table) for history, table in level.items()} for level in levels
        ]
        return cls(counts, discount)

    def _log_prob(self, history: tuple[str, ...], token: str) -> float:
        """log P(token | history); a history shorter than ``order - 1`` is padded with START."""
        context = (
            ((START,) * (self.order - 1) + history)[-(self.order - 1) :] if self.order > 1 else ()
        )
        return math.log(self._prob(context, token))

    def _prob(self, history: tuple[str, ...], token: str) -> float:
        uniform = 1.0 / (self._vocabulary_size + 1)  # + 1: a share for tokens never seen
        lower = self._prob(history[1:], token) if history else uniform
        entry = self._counts[len(history)].get(" ".join(history))
        if entry is None:
            return lower
        table, total = entry
        kept = max(table.get(token, 0) - self.discount, 0.0)
        return (kept + self.discount * len(table) * lower) / total

    def save(self, path: str | Path) -> None:
        """Write a gzipped JSON file atomically (the same counts give the same bytes)."""
        document = {
            "format": FORMAT,
            "discount": self.discount,
            "counts": [
                {history: table for history, (table, _) in sorted(level.items())}
                for level in self._counts
            ],
        }
        data = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        with atomic_write(path) as tmp:
            tmp.write_bytes(gzip.compress(data, mtime=0))

    @classmethod
    def load(cls, path: str | Path) -> TokenLanguageModel:
        path = Path(path)
        try:
            raw = path.read_bytes()
            document = json.loads(gzip.decompress(raw))
        except FileNotFoundError:
            raise LanguageModelError(f"language model {path} not found") from None
        except (OSError, EOFError, ValueError) as error:
            raise LanguageModelError(
                f"language model {path} is not gzipped JSON: {error}"
            ) from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise LanguageModelError(f"{path} is not a {FORMAT} language model")
        return cls(document["counts"], document["discount"], hashlib.sha256(raw).hexdigest())


@dataclass(frozen=True)
class Fusion:
    """How much the beam search listens to the language model (shallow fusion).

    A prefix's rank is its CTC log-probability + ``weight`` x its LM log-probability +
    ``length_bonus`` per token: the LM makes every token cost, and the bonus keeps the beam from
    preferring short readings for that alone. Both were chosen on CROHME 2013 and printed val.
    """

    model: TokenLanguageModel
    weight: float = 0.1
    length_bonus: float = 0.5

    def step(self, history: Sequence[str], token: str) -> float:
        """The rank bonus of appending ``token`` (``END`` to finish) after ``history``."""
        context = tuple(history[-(self.model.order - 1) :]) if self.model.order > 1 else ()
        return self.weight * self.model.log_prob(context, token) + self.length_bonus
