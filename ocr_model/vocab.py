"""LaTeX <-> canonical tokens <-> ids.

Labels come in two dialects: the space-tokenized CROHME / Data-for-LaTeX_OCR captions
(``\\frac { a } { b }``) and LaTeX as people type it (``\\frac{a}{b}``, ``x^2``, ``\\left(``).
Both are normalized to one canonical token sequence so that training and evaluation compare like
with like: every script argument is braced, ``\\left``/``\\right``/``\\limits`` and spacing
commands are dropped (they change layout, not the formula), aliases such as ``\\lt`` are
mapped to the symbol CROHME uses, and a prime is always ``^ { \\prime }``: ``f'``, ``f^{'}`` and
``f^{\\prime}`` look alike on paper, and the CROHME captions spell the same handwritten mark
both ways.

Usage:
    >>> tokenize_latex(r"\\frac12 + x^2")
    ['\\\\frac', '{', '1', '}', '{', '2', '}', '+', 'x', '^', '{', '2', '}']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

BLANK_TOKEN = "<blank>"

# One LaTeX token: a control word, a control symbol, or one non-space character.
_TOKEN_RE = re.compile(r"\\[a-zA-Z]+|\\.|\S")

# Layout-only commands: they do not change what formula is written.
_DROPPED = {
    "\\left",
    "\\right",
    "\\limits",
    "\\displaystyle",
    "\\textstyle",
    "\\,",
    "\\;",
    "\\:",
    "\\!",
    "\\quad",
    "\\qquad",
    "\\ ",
    "~",
    "\\big",
    "\\Big",
    "\\bigg",
    "\\Bigg",
}

# Font and text commands: dropped together with the braces of their argument, so that
# ``\mathrm{d}x`` reads ``d x`` like the captions, not ``{ d } x``.
_UNWRAPPED = {"\\mathrm", "\\mbox", "\\text", "\\mathit"}

# Spellings of the same symbol; the value is the spelling of the CROHME dictionary.
_ALIASES = {
    "\\lt": "<",
    "\\gt": ">",
    "\\le": "\\leq",
    "\\ge": "\\geq",
    "\\ne": "\\neq",
    "\\to": "\\rightarrow",
    "\\dots": "\\ldots",
    "\\lbrace": "\\{",
    "\\rbrace": "\\}",
    "\\vert": "|",
    "\\mid": "|",
    "\\lvert": "|",
    "\\rvert": "|",
    "\\dfrac": "\\frac",
    "\\tfrac": "\\frac",
    "\\varphi": "\\phi",
    "\\left(": "(",
    "\\right)": ")",
    "\\left[": "[",
    "\\right]": "]",
    "\\left|": "|",
    "\\right|": "|",
    "\\left\\{": "\\{",
    "\\right\\}": "\\}",
    "\\left.": "",
    "\\right.": "",
}

# Commands taking that many brace arguments; a bare token argument gets braces.
_ARITY = {"\\frac": 2, "\\sqrt": 1, "^": 1, "_": 1}


class UnknownTokenError(ValueError):
    """A label holds tokens the vocabulary cannot represent."""

    def __init__(self, tokens: Sequence[str]):
        self.tokens = list(dict.fromkeys(tokens))
        super().__init__(f"unknown tokens: {' '.join(self.tokens)}")


def _raw_tokens(latex: str) -> list[str]:
    # Space-tokenized captions may hold multi-character aliases such as "\left(".
    tokens: list[str] = []
    for word in latex.split():
        if word in _ALIASES:
            tokens.append(word)
        else:
            tokens.extend(_TOKEN_RE.findall(word))
    return tokens


def _read_group(tokens: list[str], start: int) -> tuple[list[str], int]:
    """The argument starting at ``start`` as a braced token list, and the index after it."""
    if start >= len(tokens):
        return ["{", "}"], start
    if tokens[start] != "{":
        return ["{", tokens[start], "}"], start + 1
    depth = 0
    for end in range(start, len(tokens)):
        depth += {"{": 1, "}": -1}.get(tokens[end], 0)
        if depth == 0:
            return tokens[start : end + 1], end + 1
    return [*tokens[start:], *["}"] * depth], len(tokens)


def _brace_arguments(tokens: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        out.append(token)
        i += 1
        if token == "\\sqrt" and i < len(tokens) and tokens[i] == "[":
            close = tokens.index("]", i) if "]" in tokens[i:] else len(tokens) - 1
            out.extend(_brace_arguments(tokens[i : close + 1]))
            i = close + 1
        for _ in range(_ARITY.get(token, 0)):
            group, i = _read_group(tokens, i)
            out.extend(["{", *_brace_arguments(group[1:-1]), "}"])
    return out


def tokenize_latex(latex: str) -> list[str]:
    """Split LaTeX in either dialect into canonical tokens."""
    tokens = []
    for token in _raw_tokens(latex):
        token = _ALIASES.get(token, token)
        if token and token not in _DROPPED:
            tokens.append(token)
    return _superscript_primes(_brace_arguments(_unwrap(tokens)))


def _superscript_primes(tokens: list[str]) -> list[str]:
    """Spell every run of ``'`` as a superscript of ``\\prime`` (inside a superscript already:
    just ``\\prime``): ``f ' ( x )`` and ``f ^ { ' } ( x )`` read ``f ^ { \\prime } ( x )``."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if tokens[i] != "'":
            out.append(tokens[i])
            i += 1
            continue
        end = i
        while end < len(tokens) and tokens[end] == "'":
            end += 1
        primes = ["\\prime"] * (end - i)
        out.extend(primes if out[-2:] == ["^", "{"] else ["^", "{", *primes, "}"])
        i = end
    return out


def _unwrap(tokens: list[str]) -> list[str]:
    """Drop each ``_UNWRAPPED`` command and the braces of its argument, keeping the contents."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if tokens[i] in _UNWRAPPED:
            group, i = _read_group(tokens, i + 1)
            out.extend(_unwrap(group[1:-1]))
        else:
            out.append(tokens[i])
            i += 1
    return out


def canonical_latex(latex: str) -> str:
    """Normalize LaTeX to the canonical space-separated form."""
    return " ".join(tokenize_latex(latex))


@dataclass(frozen=True)
class Vocabulary:
    """Canonical tokens and their ids; id 0 is the CTC blank.

    Args:
        tokens: the non-blank tokens, in id order starting at 1.
    """

    tokens: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {t: i + 1 for i, t in enumerate(self.tokens)})

    @classmethod
    def build(cls, labels: Iterable[str]) -> Vocabulary:
        """A vocabulary over every canonical token of ``labels``, sorted for stable ids."""
        found: set[str] = set()
        for label in labels:
            found.update(tokenize_latex(label))
        return cls(tuple(sorted(found)))

    def __len__(self) -> int:
        """Number of classes, the blank included."""
        return len(self.tokens) + 1

    def encode(self, latex: str) -> list[int]:
        """Ids of the canonical tokens of ``latex``; raises ``UnknownTokenError``."""
        tokens = tokenize_latex(latex)
        unknown = [t for t in tokens if t not in self._index]
        if unknown:
            raise UnknownTokenError(unknown)
        return [self._index[t] for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of non-blank ``ids``."""
        return [self.tokens[i - 1] for i in ids if i > 0]

    def to_list(self) -> list[str]:
        return list(self.tokens)
