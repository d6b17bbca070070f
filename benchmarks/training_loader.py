"""Training loader speed: CPU time per batch to draw, augment and collate the data mix.

Draws the first ``--chunks`` chunks of epoch 0 twice, in this process on one thread (a loader
process's budget): first with no mathtext raster kept, as every printed formula cost before
``PrintedInk`` and as a raster's first use still costs, then the same chunks again, where each
printed formula is a kept raster scaled to its size (a chunk's draws are a function of the
seed, so the second pass asks for the same formulas in the same fonts). The two passes must give
the same batches. Prints one JSON object.

    python benchmarks/training_loader.py --height 80 --crohme-ink cache/gpu/crohme_train.npz \\
        --ink-repeat 2 --hand ../shared/data/hand --hand-repeat 3 --printed 16000 \\
        --printed-formulas ../shared/data/crohme/train_caption.txt \\
        --printed-generated-share 0.8 --augment-prob 0.5 --seed 33
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

import cv2
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ocr_model.config import RecognizerConfig  # noqa: E402
from training.render_synthetic import PrintedRecord  # noqa: E402
from training.train import (  # noqa: E402
    SampleStream,
    TrainConfig,
    build_vocab,
    load_training,
    parse_args,
)


def main() -> None:
    bench = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], add_help=False)
    bench.add_argument("--chunks", type=int, default=4, help="chunks of 40 batches to draw")
    own, training_flags = bench.parse_known_args()
    if "-h" in training_flags or "--help" in training_flags:
        bench.print_help()
        print("\nAll other flags are training.train's data flags (--height, --printed, ...).")
        return
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    logging.getLogger("matplotlib.mathtext").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as out:
        args = parse_args([*training_flags, "--out", out])
    vocab = build_vocab(args.dictionary)
    samples = load_training(args, vocab)
    model_config = RecognizerConfig(len(vocab), **({"height": args.height} if args.height else {}))
    config = TrainConfig(seed=args.seed, augment_prob=args.augment_prob, epochs=1)
    stream = SampleStream(samples, vocab, model_config, config)

    def draw() -> tuple[float, list]:
        began = time.process_time()
        batches = [b for chunk in islice(stream.chunks(0), own.chunks) for b in chunk]
        return time.process_time() - began, batches

    parsed_seconds, parsed = draw()
    kept_seconds, kept = draw()
    if any(
        not all(torch.equal(x, y) for x, y in zip(a[2:], b[2:], strict=True))
        for a, b in zip(parsed, kept, strict=True)
    ):
        raise SystemExit("the kept rasters gave other batches than the first draw")
    printed = sum(isinstance(s, PrintedRecord) for s in samples) / len(samples)
    print(
        json.dumps(
            {
                "height": model_config.height,
                "batches": len(parsed),
                "samples": sum(b[2].shape[0] for b in parsed),
                "printed_share": round(printed, 3),
                "ms_per_batch_parsed": round(1000 * parsed_seconds / len(parsed), 1),
                "ms_per_batch_kept": round(1000 * kept_seconds / len(kept), 1),
                "kept_mb": round(stream.printed_ink.kept_bytes / 1e6, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
