"""Turn a ``DocumentResult`` into documents people read: a LaTeX file and a Markdown file.

Both list every page as a section and its formulas in reading order (the order of
``PageResult.regions``), each preceded by a comment that says where it came from, so a reader can
find it on the scan. Low-confidence formulas are flagged visibly, because OCR output nobody checks
is worse than none. Exports depend only on the result (no timestamps), so exporting a saved JSON
later gives byte-identical files to exporting during ``convert``.

Usage:
    >>> text = export_text(result, "tex")
    >>> Path("paper.tex").write_text(text, encoding="utf-8")
"""

from __future__ import annotations

import html
from collections.abc import Callable

from worker.schema import DocumentResult, PageResult, Region

# Characters that mean something to TeX in running text, and what prints them literally.
_TEX_TEXT_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "^": r"\textasciicircum{}",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "%": r"\%",
}

NOTHING_RECOGNIZED = "nothing was recognized in this box"

_TEX_PREAMBLE = r"""\documentclass{article}
\usepackage{amsmath}
\usepackage{amssymb}
% Wide right margin so the CHECK notes next to low-confidence formulas fit.
\usepackage[left=2.5cm,right=4.5cm,marginparwidth=3cm]{geometry}
"""


def tex_escape(text: str) -> str:
    """Escape running text (file names, error messages) so TeX prints it literally."""
    return "".join(_TEX_TEXT_ESCAPES.get(ch, ch) for ch in " ".join(text.split()))


def one_line(latex: str) -> str:
    """Collapse whitespace: a blank line inside display math is a TeX error and ends a $$ block."""
    return " ".join(latex.split())


def region_comment(page: PageResult, number: int, region: Region) -> str:
    """Where a formula came from, for the comment in front of it (1-based page and region)."""
    x0, y0, x1, y1 = region.bbox
    note = ", braces repaired" if region.repaired else ""
    return (
        f"page {page.index + 1}, formula {number}, box [{x0}, {y0}, {x1}, {y1}], "
        f"confidence {region.confidence:.3f}{note}"
    )


def to_latex(result: DocumentResult) -> str:
    """A compilable LaTeX document: one section per page, one display formula per region."""
    lines = [
        _TEX_PREAMBLE,
        f"\\title{{Formulas from {tex_escape(result.source)}}}",
        r"\date{}",
        r"\begin{document}",
        r"\maketitle",
        "",
    ]
    if result.error:
        lines += [f"\\emph{{The document could not be read: {tex_escape(result.error)}}}", ""]
    for page in result.pages:
        lines += [f"\\section*{{Page {page.index + 1}}}", ""]
        if page.error:
            lines += [f"\\emph{{This page could not be read: {tex_escape(page.error)}}}", ""]
        for number, region in enumerate(page.regions, start=1):
            lines.append(f"% {region_comment(page, number, region)}")
            if region.low_confidence:
                # \marginpar needs horizontal mode; \noindent starts the paragraph it attaches to.
                lines += [
                    "% CHECK: low confidence, compare with the scan",
                    f"\\noindent\\marginpar{{\\footnotesize CHECK: p.\\,{page.index + 1}, "
                    f"formula {number}, confidence {region.confidence:.2f}}}%",
                ]
            # Empty display math would put a blank line (a \par) inside \[ \]: a TeX error.
            if one_line(region.latex):
                lines += [r"\[", one_line(region.latex), r"\]", ""]
            else:
                lines += [f"% {NOTHING_RECOGNIZED}", ""]
    lines.append(r"\end{document}")
    return "\n".join(lines) + "\n"


def to_markdown(result: DocumentResult) -> str:
    """Markdown with one ``$$ ... $$`` block per region, provenance in HTML comments."""
    lines = [f"# Formulas from {html.escape(result.source)}", ""]
    if result.error:
        lines += [f"*The document could not be read: {html.escape(result.error)}*", ""]
    for page in result.pages:
        lines += [f"## Page {page.index + 1}", ""]
        if page.error:
            lines += [f"*This page could not be read: {html.escape(page.error)}*", ""]
        for number, region in enumerate(page.regions, start=1):
            lines.append(f"<!-- {region_comment(page, number, region)} -->")
            if region.low_confidence:
                lines.append(
                    f"> **CHECK:** low confidence ({region.confidence:.2f}), compare with the scan"
                )
                lines.append("")
            if one_line(region.latex):
                lines += ["$$", one_line(region.latex), "$$", ""]
            else:
                lines += [f"<!-- {NOTHING_RECOGNIZED} -->", ""]
    return "\n".join(lines)


TEXT_EXPORTERS: dict[str, Callable[[DocumentResult], str]] = {"tex": to_latex, "md": to_markdown}


def export_text(result: DocumentResult, fmt: str) -> str:
    """The document in ``fmt`` (``"tex"`` or ``"md"``)."""
    try:
        return TEXT_EXPORTERS[fmt](result)
    except KeyError:
        raise ValueError(
            f"unknown export format {fmt!r}; choose from {sorted(TEXT_EXPORTERS)}"
        ) from None
