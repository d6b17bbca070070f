"""LaTeX syntax of canonical token sequences, one token at a time.

The beam search keeps only prefixes that can still end as valid LaTeX: a ``}`` needs an open
group, ``^``, ``_``, ``\\frac`` (twice) and ``\\sqrt`` need a ``{`` next (``\\sqrt`` may take
``[ n ]`` first), and a group is never empty. Every CROHME 2014 training caption and every
``hand/train`` label passes (10 035 formulas), so the rules rule out no formula users write; on
CROHME 2013 they turned 1.2 % more formulas right (benchmarks/README.md, "Decoding").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

# Commands and how many braced groups must follow them.
ARGUMENTS = {"^": 1, "_": 1, "\\sqrt": 1, "\\frac": 2}

_GROUP, _NUMERATOR, _ROOT_DEGREE = "group", "numerator", "root degree"


class Syntax(NamedTuple):
    """Where a token prefix stands: its open groups and what must come next (a tuple: the beam
    search makes one per new prefix)."""

    open_groups: tuple[str, ...] = ()
    owed: str = ""  # the kind of group the next token must open with "{" ("": none owed)
    allows_degree: bool = False  # ... unless it is "[" (right after \sqrt)
    just_opened: bool = False  # the last token was "{": "}" would close an empty group

    @property
    def complete(self) -> bool:
        """Whether the prefix is a whole formula: nothing open, nothing owed."""
        return not self.open_groups and not self.owed

    def then(self, token: str) -> Syntax | None:
        """The state after ``token``, or None where ``token`` cannot come next."""
        if self.owed:
            if token == "{":
                return Syntax((*self.open_groups, self.owed), just_opened=True)
            if token == "[" and self.allows_degree:
                return Syntax((*self.open_groups, _ROOT_DEGREE))
            return None
        top = self.open_groups[-1] if self.open_groups else None
        if token == "}":
            if top in (None, _ROOT_DEGREE) or self.just_opened:
                return None
            # A fraction's numerator is followed by its denominator.
            return Syntax(self.open_groups[:-1], owed=_GROUP if top == _NUMERATOR else "")
        if token == "]" and top == _ROOT_DEGREE:
            return Syntax(self.open_groups[:-1], owed=_GROUP)
        if token == "{":
            return Syntax((*self.open_groups, _GROUP), just_opened=True)  # a bare group
        if token == "\\frac":
            return Syntax(self.open_groups, owed=_NUMERATOR)
        if token in ARGUMENTS:
            return Syntax(self.open_groups, owed=_GROUP, allows_degree=token == "\\sqrt")
        return Syntax(self.open_groups)


def parse(tokens: Iterable[str]) -> Syntax | None:
    """The state after a whole token sequence, or None where a token breaks the rules."""
    state: Syntax | None = Syntax()
    for token in tokens:
        state = state.then(token)
        if state is None:
            return None
    return state
