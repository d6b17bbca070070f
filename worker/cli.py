"""The ``formula-ocr`` command: convert documents to JSON locally, or recognize single crops.

Usage:
    formula-ocr convert scans/ paper.pdf --out out/ --overlay
    formula-ocr recognize crop1.png crop2.png
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ocr_model import CheckpointError, PredictorConfig, Recognizer, load_recognizer
from segmentation import FormulaDetector
from segmentation.rasterize import InputError, InputLimits, load_images
from worker.cli_distributed import add_subcommands as add_distributed_subcommands
from worker.cli_export import add_output_formats_option
from worker.cli_export import add_subcommands as add_export_subcommands
from worker.overlay import save_overlays
from worker.pipeline import (
    PipelineSettings,
    output_name,
    process_document,
    save_outputs,
)
from worker.schema import PageResult

logger = logging.getLogger("formula_ocr")


@dataclass
class Document:
    """One input document and the file-name stem its outputs get."""

    path: Path
    name: str


def collect_documents(inputs: list[Path], recursive: bool) -> list[Document]:
    """Expand folders (sorted, hidden files skipped) and give every document a unique name.

    Files of unsupported types are kept: they fail with a clear error in their own JSON.
    """
    documents = []
    for item in inputs:
        if not item.is_dir():
            documents.append(Document(item, output_name(item)))
            continue
        files = item.rglob("*") if recursive else item.iterdir()
        for path in sorted(files):
            relative = path.relative_to(item)
            if any(part.startswith(".") for part in relative.parts):
                continue  # .DS_Store, editor swap files: never documents
            if path.is_dir():
                if not recursive:
                    logger.info("skipping folder %s (use --recursive)", path)
                continue
            documents.append(Document(path, output_name(path, root=item)))
    # Same stem from two inputs (a/x.pdf and b/x.pdf): later ones get -2, -3, ... so no output
    # overwrites another. Case-insensitive, for file systems that are.
    seen: set[str] = set()
    for document in documents:
        base, number = document.name, 1
        while document.name.lower() in seen:
            number += 1
            document.name = f"{base}-{number}"
        seen.add(document.name.lower())
    return documents


def _load_recognizer(args: argparse.Namespace) -> Recognizer:
    config = PredictorConfig(
        backend=args.backend,
        decoder=args.decoder,
        lm_weight=args.lm_weight,
        num_threads=args.threads,
    )
    return load_recognizer(args.checkpoint, config)


def run_convert(args: argparse.Namespace) -> int:
    """``formula-ocr convert``: 0 when every document and page was read, 1 otherwise."""
    try:
        settings = PipelineSettings(
            dpi=args.dpi,
            low_confidence_threshold=args.low_confidence,
            limits=InputLimits(max_page_pixels=args.max_page_pixels),
            password=args.password,
            use_text_layer=not args.no_text_layer,
        )
    except ValueError as exc:
        logger.error("%s", exc)
        return 2
    documents = collect_documents(args.inputs, args.recursive)
    if not documents:
        logger.error("no documents found in %s", " ".join(map(str, args.inputs)))
        return 1
    recognizer = _load_recognizer(args)
    detector = FormulaDetector()
    overlay_dir = args.out / "overlays"
    failed = 0
    disable = True if args.no_progress else None  # None: only when stderr is a terminal
    with (
        logging_redirect_tqdm(),
        tqdm(total=0, unit="page", desc="pages", position=0, disable=disable) as pages_bar,
        tqdm(unit="region", desc="regions", position=1, disable=disable) as regions_bar,
    ):
        for document in documents:
            pages_bar.set_postfix_str(document.path.name)

            def progress(done: int, total: int, page: PageResult) -> None:
                if done == 1:  # page counts are known per document, once it is opened
                    pages_bar.total += total
                    pages_bar.refresh()
                pages_bar.update(1)
                regions_bar.update(len(page.regions))

            result = process_document(document.path, settings, recognizer, detector, progress)
            written = save_outputs(result, args.out, document.name, args.formats)
            if args.overlay:
                save_overlays(result, document.path, overlay_dir, document.name, settings)
            errors = [p for p in result.pages if p.error is not None]
            formulas = sum(len(p.regions) for p in result.pages)
            if result.status != "ok":
                failed += 1
                tqdm.write(f"FAILED {document.path}: {result.error} -> {written['json']}")
            elif errors:
                failed += 1
                tqdm.write(
                    f"PARTLY {document.path}: {len(errors)} of {len(result.pages)} pages failed "
                    f"({errors[0].error}) -> {written['json']}"
                )
            else:
                tqdm.write(
                    f"ok     {document.path}: {len(result.pages)} pages, {formulas} formulas "
                    f"-> {written['json']}"
                )
    print(f"JSON results: {args.out.resolve()}/<name>.json ({len(documents)} documents)")
    if args.overlay:
        print(f"Overlays:     {overlay_dir.resolve()}/<name>.page-NNN.png")
    if failed:
        print(f"{failed} of {len(documents)} documents had errors (see their JSON 'error').")
    return 1 if failed else 0


def run_recognize(args: argparse.Namespace) -> int:
    """``formula-ocr recognize``: print ``path<TAB>latex<TAB>confidence`` per crop image."""
    limits = InputLimits()
    labels, crops, status = [], [], 0
    for path in args.images:
        try:
            frames = list(load_images(path, limits))
        except InputError as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            status = 1
            continue
        for frame in frames:
            label = str(path) if len(frames) == 1 else f"{path}[{frame.index}]"
            if frame.error is not None:
                print(f"{label}: {frame.error}", file=sys.stderr)
                status = 1
                continue
            labels.append(label)
            crops.append(frame.image)
    recognizer = _load_recognizer(args)
    for label, recognition in zip(labels, recognizer(crops), strict=True):
        print(f"{label}\t{recognition.latex}\t{recognition.confidence:.4f}")
    return status


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="recognizer checkpoint (default: the one shipped in model_data/recognizer.pt)",
    )
    parser.add_argument(
        "--backend",
        choices=("torch", "onnx"),
        default=PredictorConfig.backend,
        help="inference runtime (onnx: ONNX Runtime, exported once per model and cached)",
    )
    parser.add_argument(
        "--decoder",
        choices=("greedy", "beam"),
        default=PredictorConfig.decoder,
        help="CTC decoding: beam search, kept to valid LaTeX, is more accurate (hand/val "
        "ExpRate 77.9 %% vs 70.6 %%), greedy about 2 ms per formula faster",
    )
    parser.add_argument(
        "--lm-weight",
        type=float,
        default=PredictorConfig.lm_weight,
        help="how much beam search trusts the formula language model in model_data/ "
        "(CROHME 2013 ExpRate 26.6 %% with it, 25.2 %% without); 0 turns it off",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="inference threads (default: all cores, or FORMULA_OCR_TORCH_THREADS); use 1 on "
        "a machine that is busy with other work, where more threads wait on each other",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``formula-ocr`` parser; other modules add their subcommands to it."""
    formatter = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(
        prog="formula-ocr",
        description="Find formulas on scanned pages and PDFs and turn them into LaTeX.",
        formatter_class=formatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    convert = subparsers.add_parser(
        "convert",
        help="convert PDFs, images or folders to JSON, in this process (no Redis needed)",
        description=(
            "Convert each document (PDF, PNG, JPEG, TIFF; folders are expanded) to OUT/<name>.json "
            "with every formula's box, LaTeX and confidence. Exit status 0 only when every "
            "document was read; failed documents still get a JSON saying why."
        ),
        formatter_class=formatter,
    )
    convert.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="file or folder")
    convert.add_argument("--out", type=Path, required=True, help="folder for the results")
    convert.add_argument(
        "--overlay",
        action="store_true",
        help="also write OUT/overlays/<name>.page-NNN.png with boxes and LaTeX drawn on each page",
    )
    convert.add_argument("--dpi", type=int, default=200, help="PDF render resolution")
    convert.add_argument("--recursive", action="store_true", help="descend into subfolders")
    convert.add_argument(
        "--low-confidence",
        type=float,
        default=PipelineSettings.low_confidence_threshold,
        help="flag regions whose confidence is below this as low_confidence",
    )
    convert.add_argument("--password", default=None, help="password for encrypted PDFs")
    convert.add_argument(
        "--no-text-layer",
        action="store_true",
        help="find formulas in pixels even on born-digital PDF pages (default: their fonts)",
    )
    convert.add_argument(
        "--max-page-pixels",
        type=int,
        default=InputLimits.max_page_pixels,
        help="pages with more pixels (at --dpi) are refused with an error",
    )
    convert.add_argument(
        "--no-progress", action="store_true", help="no progress bars (they only show on a tty)"
    )
    _add_model_options(convert)
    add_output_formats_option(convert)
    convert.set_defaults(func=run_convert)

    recognize = subparsers.add_parser(
        "recognize",
        help="print the LaTeX of images that each show one formula",
        description="Print path<TAB>latex<TAB>confidence for each image of a single formula.",
        formatter_class=formatter,
    )
    recognize.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    _add_model_options(recognize)
    recognize.set_defaults(func=run_recognize)
    add_distributed_subcommands(subparsers)
    add_export_subcommands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``formula-ocr`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # OpenCV prints its own decoder errors to stderr; ours, with the file name, are clearer.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_FATAL)
    try:
        return args.func(args)
    except CheckpointError as exc:
        parser.exit(2, f"formula-ocr: error: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
