"""Fit the token n-gram language model the beam search uses (``ocr_model.language_model``).

The shipped one (``model_data/language.json.gz``) was fitted on the recognizer's own training
labels: the CROHME 2014 training captions, ``hand/train`` and the synthetic set of the last
training phase:

    python -m training.fit_language_model --out model_data/language.json.gz \\
        --captions ../shared/data/crohme/train_caption.txt \\
        --latex-ocr ../shared/data/hand --latex-ocr cache/synth8

Never fit it on a set you measure on: it would learn those formulas by heart.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ocr_model.language_model import TokenLanguageModel
from training.datasets import read_captions, read_latex_ocr

log = logging.getLogger("training.fit_language_model")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Fit the formula language model on training labels.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", type=Path, required=True, help="file to write (.json.gz)")
    p.add_argument("--captions", type=Path, action="append", default=[],
                   help="CROHME normalized captions file (id<TAB>tokens); repeatable")  # fmt: skip
    p.add_argument("--latex-ocr", type=Path, action="append", default=[],
                   help="folder in the Data-for-LaTeX_OCR layout; repeatable")  # fmt: skip
    p.add_argument("--split", default="train", help="split read from each --latex-ocr folder")
    p.add_argument("--order", type=int, default=4, help="n of the n-grams")
    p.add_argument("--discount", type=float, default=0.75, help="Kneser-Ney discount")
    return p.parse_args(argv)


def main(args: argparse.Namespace) -> TokenLanguageModel:
    formulas: list[list[str]] = []
    for path in args.captions:
        captions = read_captions(path)
        log.info("%s: %d formulas", path, len(captions))
        formulas += [latex.split() for latex in captions.values()]
    for folder in args.latex_ocr:
        data = read_latex_ocr(folder, args.split)
        data.log_problems(str(folder))
        log.info("%s/%s: %d formulas", folder, args.split, len(data.samples))
        formulas += [sample.label.split() for sample in data.samples]
    if not formulas:
        raise SystemExit("no formulas: give --captions or --latex-ocr")
    model = TokenLanguageModel.fit(formulas, args.order, args.discount)
    model.save(args.out)
    log.info("wrote %s: order %d, %d formulas, %.0f kB", args.out, model.order, len(formulas),
             args.out.stat().st_size / 1024)  # fmt: skip
    return model


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main(parse_args())
