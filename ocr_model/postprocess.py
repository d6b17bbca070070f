"""Make decoded token sequences valid LaTeX.

A CTC model can emit an unmatched ``}`` or forget to close a group; the output must still compile.
The repair is minimal and reported, so that a reviewer knows the model's raw output was off.
"""

from __future__ import annotations

from ocr_model.syntax import ARGUMENTS


def repair_latex(tokens: list[str]) -> tuple[list[str], bool]:
    """Balance braces and give dangling scripts an argument.

    Args:
        tokens: canonical tokens as decoded.

    Returns:
        The repaired tokens and whether anything had to change.
    """
    out: list[str] = []
    depth = 0
    for token in tokens:
        if token == "}":
            if depth == 0:
                continue  # a close without an open
            depth -= 1
        elif token == "{":
            depth += 1
        out.append(token)
    out.extend(["}"] * depth)
    # A script or command with nothing after it gets an empty group.
    if out and out[-1] in ARGUMENTS:
        out.extend(["{", "}"] * ARGUMENTS[out[-1]])
    return out, out != tokens
