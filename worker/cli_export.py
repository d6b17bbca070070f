"""``formula-ocr export`` and ``formula-ocr review``: readable outputs from a saved result JSON.

Both go through the same writers as ``convert --format``, so exporting later gives byte-identical
files to exporting during conversion.

Usage:
    formula-ocr export out/paper.json --format tex,md,html
    formula-ocr review out/paper.json --out paper-review.html
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from worker.pipeline import OUTPUT_FORMATS, save_outputs, write_atomic
from worker.review import build_review
from worker.schema import DocumentResult

EXPORT_FORMATS = tuple(fmt for fmt in OUTPUT_FORMATS if fmt != "json")


def format_list(
    allowed: tuple[str, ...], always: tuple[str, ...] = ()
) -> Callable[[str], tuple[str, ...]]:
    """An argparse ``type`` for ``--format tex,md``: known formats in the order given.

    Args:
        allowed: the formats the option accepts.
        always: formats included even when not asked for (``convert`` always writes JSON).
    """

    def parse(text: str) -> tuple[str, ...]:
        asked = [f.strip().lower() for f in text.split(",") if f.strip()]
        unknown = [f for f in asked if f not in allowed]
        if unknown or not asked:
            raise argparse.ArgumentTypeError(
                f"unknown format {', '.join(unknown) or text!r}; choose from {','.join(allowed)}"
            )
        return tuple(dict.fromkeys([*always, *asked]))

    return parse


def add_output_formats_option(parser: argparse.ArgumentParser) -> None:
    """``--format`` of the commands that produce results (convert, submit): JSON always."""
    parser.add_argument(
        "--format",
        dest="formats",
        type=format_list(OUTPUT_FORMATS, always=("json",)),
        default="json",
        help="comma-separated outputs per document: json (always written), tex, md, html "
        "(the review page); see also 'formula-ocr export'",
    )


def load_result(path: Path) -> DocumentResult:
    """Read a result JSON written by ``convert`` (or the Celery workers).

    Raises:
        ValueError: the file is missing or is not a result JSON.
    """
    try:
        return DocumentResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror or error}") from error
    except (json.JSONDecodeError, TypeError, AttributeError) as error:
        raise ValueError(f"{path} is not a formula-ocr result JSON: {error}") from error


def run_export(args: argparse.Namespace) -> int:
    """``formula-ocr export``: write ``<name>.<format>`` next to the JSON (or into ``--out``)."""
    try:
        result = load_result(args.result)
    except ValueError as error:
        print(f"formula-ocr export: error: {error}", file=sys.stderr)
        return 2
    out_dir = args.out or args.result.parent
    for fmt, path in save_outputs(result, out_dir, args.result.stem, args.formats).items():
        print(f"{fmt:5s} {path}")
    return 0


def run_review(args: argparse.Namespace) -> int:
    """``formula-ocr review``: write the HTML review page of one result."""
    try:
        result = load_result(args.result)
    except ValueError as error:
        print(f"formula-ocr review: error: {error}", file=sys.stderr)
        return 2
    out = args.out or args.result.with_suffix(".html")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, build_review(result, source=args.source).encode("utf-8"))
    print(f"review page: {out.resolve().as_uri()}")
    return 0


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``export`` and ``review`` to the ``formula-ocr`` parser."""
    formatter = argparse.ArgumentDefaultsHelpFormatter
    export = subparsers.add_parser(
        "export",
        help="write LaTeX, Markdown or the HTML review page from a result JSON",
        description=(
            "Write RESULT's formulas as a LaTeX document (one section per page, display math in "
            "reading order, low-confidence formulas marked CHECK), Markdown ($$ blocks) or the "
            "HTML review page. Files are named like the JSON: out/paper.json -> out/paper.tex."
        ),
        formatter_class=formatter,
    )
    export.add_argument("result", type=Path, metavar="RESULT.json", help="a result of convert")
    export.add_argument(
        "--format",
        dest="formats",
        type=format_list(EXPORT_FORMATS),
        default="tex,md",
        help=f"comma-separated formats out of {','.join(EXPORT_FORMATS)}",
    )
    export.add_argument("--out", type=Path, default=None, help="folder (default: the JSON's)")
    export.set_defaults(func=run_export)

    review = subparsers.add_parser(
        "review",
        help="write a self-contained HTML page to check a result against the scan",
        description=(
            "Write one offline HTML page showing, for every formula, the crop from the scan, "
            "the rendered LaTeX, its source and confidence, with page thumbnails and a filter "
            "for low-confidence formulas. The document is read again for the crops."
        ),
        formatter_class=formatter,
    )
    review.add_argument("result", type=Path, metavar="RESULT.json", help="a result of convert")
    review.add_argument(
        "--out", type=Path, default=None, help="HTML file (default: RESULT.html beside the JSON)"
    )
    review.add_argument(
        "--source",
        type=Path,
        default=None,
        help="the document, if it moved since conversion (default: the path in the JSON)",
    )
    review.set_defaults(func=run_review)
