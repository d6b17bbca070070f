"""Measure a checkpoint on any folder in the Data-for-LaTeX_OCR layout.

    python -m training.evaluate --data ../shared/data/crohme/test2014 --split test --json
    python -m training.evaluate --data ../shared/data/hand --split val --errors errors.tsv

Metrics are defined in ``training.metrics``; predictions and references are compared as
canonical tokens (``ocr_model.vocab``). ``ms_per_formula`` is the recognizer's wall time per
formula (preprocessing, batching and decoding included, image decoding from disk excluded).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ocr_model.predictor import PredictorConfig, load_recognizer
from training.datasets import load_image, read_latex_ocr
from training.metrics import edit_distance, score


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Evaluate a recognizer checkpoint.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data", type=Path, required=True, help="Data-for-LaTeX_OCR folder")
    p.add_argument("--split", required=True, help="split name, e.g. val or test")
    p.add_argument("--checkpoint", type=Path, help="checkpoint (default: the shipped one)")
    p.add_argument("--backend", choices=("torch", "onnx"), default=PredictorConfig.backend)
    p.add_argument("--decoder", choices=("greedy", "beam"), default=PredictorConfig.decoder)
    p.add_argument("--lm-weight", type=float, default=PredictorConfig.lm_weight,
                   help="language-model weight of the beam search (0: off)")  # fmt: skip
    p.add_argument("--threads", type=int, help="torch/onnx threads (default: all cores)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--errors", type=Path, help="write wrong samples (image, reference, prediction)")
    return p.parse_args(argv)


def main(args: argparse.Namespace) -> dict:
    data = read_latex_ocr(args.data, args.split)
    data.log_problems(str(args.data))
    for problem in data.problems:
        print(f"warning: {problem}", file=sys.stderr)
    recognizer = load_recognizer(
        args.checkpoint,
        PredictorConfig(
            backend=args.backend,
            decoder=args.decoder,
            lm_weight=args.lm_weight,
            num_threads=args.threads,
        ),
    )
    images = [load_image(s.path) for s in data.samples]
    references = [s.label for s in data.samples]
    began = time.perf_counter()
    predictions = [r.latex for r in recognizer(images)]
    elapsed = time.perf_counter() - began
    metrics = score(predictions, references)
    metrics["ms_per_formula"] = 1000 * elapsed / max(1, len(images))
    if args.errors:
        with open(args.errors, "w", encoding="utf-8") as out:
            out.write("image\tedits\treference\tprediction\n")
            for sample, ref, pred in zip(data.samples, references, predictions, strict=True):
                if ref != pred:
                    distance = edit_distance(pred.split(), ref.split())
                    out.write(f"{sample.path.name}\t{distance}\t{ref}\t{pred}\n")
    if args.json:
        print(json.dumps(metrics))
    else:
        for key, value in metrics.items():
            print(f"{key:18s} {value:.4f}" if isinstance(value, float) else f"{key:18s} {value}")
    return metrics


if __name__ == "__main__":
    main(parse_args())
