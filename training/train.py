"""Train the formula recognizer on CROHME ink, the ``hand`` set and optional synthetic sets.

Reproduce the shipped checkpoint (see model_data/README.md for the exact history):

    python -m training.render_synthetic --out cache/synthetic --count 4000 --seed 0 \\
        --formulas ../shared/data/crohme/train_caption.txt
    python -m training.train --out runs/main --epochs 10 --threads 1 --augment-prob 0 \\
        --crohme-ink ../shared/data/crohme/train_inkml \\
        --captions ../shared/data/crohme/train_caption.txt \\
        --hand ../shared/data/hand --val-ink ../shared/data/crohme/test2013_inkml
    python -m training.train --out runs/phase2 --init runs/main/best.pt --epochs 2 --lr 4e-4 \\
        --threads 1 --hand-repeat 3 --augment-prob 0.5 --synthetic cache/synthetic \\
        --crohme-ink ../shared/data/crohme/train_inkml \\
        --captions ../shared/data/crohme/train_caption.txt \\
        --hand ../shared/data/hand --val-ink ../shared/data/crohme/test2013_inkml \\
        --ship model_data/recognizer.pt
    # phase 3 starts from the phase-2 checkpoint as shipped (fp16, sha256 8e251482...):
    python -m training.render_synthetic --out cache/synthetic --count 12000 --seed 0 \\
        --formulas ../shared/data/crohme/train_caption.txt
    python -m training.train --out runs/phase3 --init model_data/recognizer.pt --epochs 5 \\
        --lr 5e-4 --threads 1 --hand-repeat 5 --augment-prob 0.5 --synthetic cache/synthetic \\
        --crohme-ink ../shared/data/crohme/train_inkml \\
        --captions ../shared/data/crohme/train_caption.txt \\
        --hand ../shared/data/hand --val-ink ../shared/data/crohme/test2013_inkml \\
        --ship model_data/recognizer.pt
    # phase 4 (sha256 fce7f95e...) starts from phase 3 as shipped (a1e4b1ff...), on a
    # new synthetic set (run without --ship, its best.pt, the last epoch, saved as fp16 after):
    python -m training.render_synthetic --out cache/synth5 --count 14000 --seed 5 \\
        --generated-share 0.6 --formulas ../shared/data/crohme/train_caption.txt
    python -m training.render_synthetic --out cache/printed_val --split val --count 300 --seed 2 \\
        --generated-share 1
    python -m training.train --out runs/phase4 --init model_data/recognizer.pt --epochs 5 \\
        --lr 4e-4 --threads 2 --seed 3 --hand-repeat 4 --augment-prob 0.5 \\
        --synthetic cache/synth5 \\
        --crohme-ink ../shared/data/crohme/train_inkml \\
        --captions ../shared/data/crohme/train_caption.txt \\
        --hand ../shared/data/hand --val-ink ../shared/data/crohme/test2013_inkml \\
        --val-set cache/printed_val
    # phase 5 (sha256 07285074...) starts from phase 4 as shipped (fce7f95e...), on
    # phase 4's synthetic set plus a new one; its best.pt (the last epoch) was written as fp16
    # with load_checkpoint + save_checkpoint(half=True), what --ship does at selection time:
    python -m training.render_synthetic --out cache/synth6 --count 14000 --seed 6 \\
        --generated-share 0.7 --formulas ../shared/data/crohme/train_caption.txt
    python -m training.train --out runs/phase5 --init model_data/recognizer.pt --epochs 5 \\
        --lr 3e-4 --threads 2 --seed 4 --hand-repeat 5 --augment-prob 0.5 \\
        --synthetic cache/synth5 --synthetic cache/synth6 \\
        --crohme-ink ../shared/data/crohme/train_inkml \\
        --captions ../shared/data/crohme/train_caption.txt \\
        --hand ../shared/data/hand --val-ink ../shared/data/crohme/test2013_inkml \\
        --val-set cache/printed_val

    # phase 9 (sha256 0cfe1cf1...): six minutes on one GPU, the "tune" run of this
    # script started with phase 5's checkpoint as model_data/recognizer.pt; the ink packed
    # (training.pack_ink), printed formulas drawn as used, 7 loader processes per run
    # (benchmarks/README.md, "Phase 9", has the packing commands):
    bash training/gpu_recipe.sh cache/gpu OUT 6 7
    # phase 10 (sha256 9c3d7621...) starts from phase 9 as shipped, on the 2-core
    # CPU: 100 minutes by the clock, printed formulas two thirds of each epoch; its ship.pt
    # (the epoch-4 validation, the best of the run) is model_data/recognizer.pt:
    python -m training.train --out runs/p10 --init model_data/recognizer.pt --lr 2.5e-4 \\
        --seed 21 --crohme-ink cache/gpu/crohme_train.npz --ink-repeat 1 \\
        --hand ../shared/data/hand --hand-repeat 3 --printed 24000 \\
        --printed-formulas ../shared/data/crohme/train_caption.txt \\
        --printed-generated-share 0.8 --val-ink cache/gpu/crohme13.npz \\
        --val-set cache/printed_val --augment-prob 0.5 --epochs 1000 --schedule-minutes 100 \\
        --workers 1 --threads 1 --log-every 100 --ship runs/p10/ship.pt
    # phase 11 (sha256 e66b0cba...) starts from phase 10 as shipped and reads
    # inputs 80 pixels tall instead of 64 (same weights, one more row of features); its
    # ship.pt (the validation at the end of the 95-minute budget) is model_data/recognizer.pt:
    python -m training.train --out runs/h80 --init model_data/recognizer.pt --height 80 \\
        --lr 3e-4 --seed 22 --crohme-ink cache/gpu/crohme_train.npz --ink-repeat 1 \\
        --hand ../shared/data/hand --hand-repeat 3 --printed 24000 \\
        --printed-formulas ../shared/data/crohme/train_caption.txt \\
        --printed-generated-share 0.8 --val-ink cache/gpu/crohme13.npz \\
        --val-set cache/printed_val --augment-prob 0.5 --epochs 1000 --schedule-minutes 95 \\
        --workers 1 --threads 1 --log-every 100 --ship runs/h80/ship.pt
    # phase 12 (sha256 d995d682...) starts from phase 11 as shipped, ink weighted up;
    # its ship.pt (the validation at the end of the 110-minute budget) was shipped:
    python -m training.train --out runs/p12 --init model_data/recognizer.pt --lr 3e-4 \\
        --seed 23 --crohme-ink cache/gpu/crohme_train.npz --ink-repeat 2 \\
        --hand ../shared/data/hand --hand-repeat 3 --printed 16000 \\
        --printed-formulas ../shared/data/crohme/train_caption.txt \\
        --printed-generated-share 0.8 --val-ink cache/gpu/crohme13.npz \\
        --val-set cache/printed_val --augment-prob 0.5 --epochs 1000 --schedule-minutes 110 \\
        --workers 1 --threads 1 --log-every 100 --ship runs/p12/ship.pt
    # phase 13 (sha256 71552263...) starts from phase 12 as shipped, with phase 12's
    # command and only these flags changed; its ship.pt (end of epoch 3) was shipped:
    #     --out runs/p13 --lr 2e-4 --seed 29 --schedule-minutes 115 --ship runs/p13/ship.pt
    # phase 14 (shipped, sha256 dee9e0ba...): phase 12's command from phase 13 as shipped,
    # with only these flags changed (float32: that CPU had no bfloat16 instructions):
    #     --out runs/p14 --lr 1.5e-4 --seed 41 --average 0.999 --schedule-minutes 112 \
    #     --threads 2 --ship runs/p14/ship.pt
    # then the run's final moving average, averaged with phase 13 (pooled validation 489,
    # against 487 for phase 13 and 484 for the run's best):
    python -c "from ocr_model.checkpoint import load_checkpoint as load, save_checkpoint as save; \
        c = load('runs/p14/last.pt'); \
        c.model.load_state_dict(c.training_state['moving_average']); \
        save('runs/p14/avg_end.pt', c.model, c.vocab, c.metadata)"
    python -m training.average model_data/recognizer.pt runs/p14/avg_end.pt --half \
        --out model_data/recognizer.pt

From scratch in one run (not the shipped lineage; benchmarks/README.md, "From scratch on the
CPU", has what it reached): random weights at 80 px, the same data mix, bfloat16 autocast,
a learning-rate schedule over a fixed number of training minutes (140 measured twice: 20 553
steps on a Xeon, 25 692 on a Zen 5 EPYC; 345 is the 6-hour plan):

    python -m training.train --out runs/scratch --height 80 --lr 1e-3 --seed 31 \\
        --crohme-ink cache/gpu/crohme_train.npz --ink-repeat 2 \\
        --hand ../shared/data/hand --hand-repeat 3 --printed 16000 \\
        --printed-formulas ../shared/data/crohme/train_caption.txt \\
        --printed-generated-share 0.8 --val-ink cache/gpu/crohme13.npz \\
        --val-set cache/printed_val --augment-prob 0.5 --epochs 1000 --schedule-minutes 140 \\
        --validate-every 2 --bf16 --workers 1 --threads 2 --log-every 100 \\
        --ship runs/scratch/ship.pt

On a slower 2-core machine (80 px at 117 steps/min, 64 px at 172), 80 minutes at
``--height 64`` then 40 at ``--height 80`` from ``--init runs/h64/last.pt --lr 3e-4`` reached the
Xeon run's validation in 120 minutes (benchmarks/README.md, "A height curriculum"); the same
two commands on a slower Xeon (64 px at 130 steps/min, 80 px at 107) reached 342 (368 there)
(benchmarks/README.md, "Kept mathtext rasters").

Interrupt it at any time and continue with ``--resume runs/main/last.pt``: the batch order and
augmentation are functions of (seed, epoch, batch), so a resumed run continues exactly.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from ocr_model.checkpoint import LoadedCheckpoint, load_checkpoint, save_checkpoint
from ocr_model.config import RecognizerConfig
from ocr_model.model import FormulaRecognizer
from ocr_model.predictor import PredictorConfig, Recognizer
from ocr_model.preprocessing import fit_to_height, ink_bounds, ink_map
from ocr_model.vocab import Vocabulary
from training.augment import AugmentConfig, Augmenter
from training.average import MovingAverage
from training.datasets import (
    ImageSample,
    ReadResult,
    keep_encodable,
    load_dictionary,
    load_image,
    paper_image,
    read_captions,
    read_ink,
    read_latex_ocr,
)
from training.metrics import score
from training.render_synthetic import (
    FormulaGenerator,
    FormulaSource,
    PrintedInk,
    PrintedRecord,
    draw_printed,
    printed_records,
    read_formulas,
)

log = logging.getLogger("training.train")

CHUNK_BATCHES = 40  # batches rendered together and sorted by width (less padding)


@dataclass
class TrainConfig:
    """Optimisation settings (model size lives in RecognizerConfig)."""

    epochs: int = 14
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 300
    hand_repeat: int = 2  # the hand set is small and close to the product's input: oversample
    ink_repeat: int = 1  # ink is drawn anew at each use, so repeats are new images
    max_width: int = 1024  # training crops wider than this are scaled down
    augment_prob: float = 0.5  # share of samples given the scan/photo look of training.augment
    seed: int = 0
    bf16: bool = False  # forward pass under bfloat16 autocast; weights and CTC stay float32
    average_decay: float = 0.0  # moving average of the weights, validated beside them (0: none)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--out", type=Path, required=True, help="run folder: last.pt, best.pt, log")
    p.add_argument(
        "--crohme-ink", type=Path, help="CROHME training InkML folder, or its training.pack_ink"
    )
    p.add_argument("--captions", type=Path, help="CROHME normalized captions (id<TAB>tokens)")
    p.add_argument("--hand", type=Path, help="hand set root (Data-for-LaTeX_OCR layout)")
    p.add_argument(
        "--synthetic",
        type=Path,
        action="append",
        default=[],
        help="extra Data-for-LaTeX_OCR folders (split 'train'); repeatable",
    )
    p.add_argument(
        "--printed",
        type=int,
        default=0,
        help="printed formulas per epoch, drawn as they are used in a random training font and"
        " size; each formula's raster per font is kept (about 16 kB) after mathtext first draws it",
    )
    p.add_argument(
        "--printed-formulas",
        type=Path,
        help="label file ('id<TAB>tokens' or 'tokens') for a share of the --printed formulas",
    )
    p.add_argument(
        "--printed-generated-share",
        type=float,
        default=0.7,
        help="share of --printed formulas from the generator when --printed-formulas is given",
    )
    p.add_argument("--val-ink", type=Path, help="validation InkML folder or pack (CROHME 2013)")
    p.add_argument(
        "--val-set",
        type=Path,
        action="append",
        default=[],
        help="extra validation folders (Data-for-LaTeX_OCR layout, split 'val'); repeatable",
    )
    p.add_argument(
        "--dictionary",
        type=Path,
        default=Path("../shared/data/crohme/dictionary.txt"),
        help="CROHME token dictionary: the vocabulary",
    )
    p.add_argument("--resume", type=Path, help="continue a run from its last.pt")
    p.add_argument("--init", type=Path, help="start from these weights (new optimiser)")
    p.add_argument(
        "--height",
        type=int,
        help="input height in pixels, a multiple of 16 (default: 64, or that of --init); --init"
        " weights carry over to another height, as the network has no size-bound layer",
    )
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--hand-repeat", type=int, default=TrainConfig.hand_repeat)
    p.add_argument("--ink-repeat", type=int, default=TrainConfig.ink_repeat)
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument(
        "--augment-prob",
        type=float,
        default=TrainConfig.augment_prob,
        help="share of samples passed through training.augment (scan/photo look)",
    )
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument(
        "--bf16",
        action="store_true",
        help="run the forward pass under bfloat16 autocast (master weights and the CTC loss stay"
        " float32): about half the step time on a fixed batch on both 2-core CPUs measured"
        " (a Xeon with AMX, a Zen 5 EPYC with AVX-512 BF16; benchmarks/README.md); slower"
        " on CPUs without bfloat16 instructions (the run warns)",
    )
    p.add_argument(
        "--average",
        type=float,
        default=TrainConfig.average_decay,
        metavar="DECAY",
        help="also keep an exponential moving average of the weights with this decay (0.999:"
        " about the last 1 000 steps), validate it beside the live weights and keep whichever"
        " reads more (0: none)",
    )
    p.add_argument("--log-every", type=int, default=50, help="steps between log lines")
    p.add_argument("--save-every", type=int, default=200, help="steps between last.pt saves")
    p.add_argument("--max-minutes", type=float, default=0, help="stop (resumably) after this")
    p.add_argument(
        "--schedule-minutes",
        type=float,
        default=0,
        help="fixed time budget (a GPU lease): the learning-rate schedule runs over this many"
        " minutes of training instead of --epochs, then the run validates and ends",
    )
    p.add_argument("--validate-every", type=int, default=1, help="epochs between validations")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="data-loader processes that draw and augment samples (0: in the training process)",
    )
    p.add_argument("--max-steps", type=int, default=0, help="stop (resumably) after N steps")
    p.add_argument("--limit", type=int, default=0, help="use only N training samples (tests)")
    p.add_argument("--ship", type=Path, help="also write the best checkpoint here, fp16")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p.parse_args(argv)


def cpu_computes_bfloat16(cpuinfo: str) -> bool:
    """Whether ``/proc/cpuinfo``'s flags name bfloat16 instructions (AVX-512 BF16 or AMX).

    Without them oneDNN emulates bfloat16, and autocast trains slower than float32.
    """
    flags = set(cpuinfo.split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def at_height(model: FormulaRecognizer, height: int) -> FormulaRecognizer:
    """The same weights reading inputs ``height`` pixels tall (feature rows scale with it)."""
    if height <= 0 or height % 16:
        raise SystemExit(f"--height {height}: use a positive multiple of 16")
    resized = FormulaRecognizer(replace(model.config, height=height))
    resized.load_state_dict(model.state_dict())
    return resized


def build_vocab(dictionary: Path) -> Vocabulary:
    """The CROHME dictionary's tokens in canonical form (layout-only tokens drop out)."""
    return Vocabulary.build(load_dictionary(dictionary))


class SampleStream:
    """Deterministic batches of prepared images: a function of (seed, epoch, batch index).

    Samples are drawn in chunks of ``CHUNK_BATCHES`` batches (sorted by width inside a chunk,
    so batches carry little padding). Data-loader workers each draw whole chunks, and the
    chunks reach training in their order, so a run with workers gives the same batches as
    one without and resumes exactly too. One stream runs through all the epochs, so each
    loader process keeps its ``PrintedInk`` rasters from epoch to epoch.
    """

    def __init__(
        self,
        samples: list,
        vocab: Vocabulary,
        model_config: RecognizerConfig,
        config: TrainConfig,
    ):
        self.samples = samples
        self.vocab = vocab
        self.model_config = model_config
        self.config = config
        self.augment = Augmenter(AugmentConfig())
        # Decoded image files, loaded once here so that every worker shares them; by path, so
        # a repeated set (--hand-repeat) is decoded and kept once.
        paths = dict.fromkeys(s.path for s in samples if isinstance(s, ImageSample))
        self._images = {path: compact(load_image(path)) for path in paths}
        self.printed_ink = PrintedInk()

    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.samples) / self.config.batch_size)

    def _paper(self, index: int, rng: np.random.Generator) -> np.ndarray | None:
        sample = self.samples[index]
        if isinstance(sample, ImageSample):
            image = self._images[sample.path]
        elif isinstance(sample, PrintedRecord):
            image = draw_printed(sample, rng, self.printed_ink)
            if image is None:
                return None
        else:
            image = paper_image(sample, rng)
        return self.augment(image, rng) if rng.random() < self.config.augment_prob else image

    def _prepare(self, paper: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        ink = ink_map(paper)
        if rng.random() < 0.3:  # faint or heavy ink
            ink = np.clip(ink * rng.uniform(0.6, 1.3), 0, 1)
        return fit_to_height(
            ink, self.model_config.height, self.config.max_width, self.model_config.width_stride
        )

    def chunks(self, epoch: int, start_batch: int = 0, shard: int = 0, shards: int = 1):
        """Yield the chunks from the one holding batch ``start_batch`` of ``epoch`` on, through
        the last epoch, each as a list of ``(epoch, batch_index, images, widths, targets,
        target_lengths)``; with ``shards`` > 1, only every ``shards``-th of them, from the
        ``shard``-th."""
        size = self.config.batch_size
        chunk = size * CHUNK_BATCHES
        position = 0  # among the chunks still to train on
        for current in range(epoch, self.config.epochs):
            first_wanted = start_batch if current == epoch else 0
            order = np.random.default_rng([self.config.seed, current]).permutation(
                len(self.samples)
            )
            for chunk_start in range(0, len(order), chunk):
                first_batch = chunk_start // size
                last_batch = first_batch + math.ceil(min(chunk, len(order) - chunk_start) / size)
                if last_batch <= first_wanted:
                    continue
                position += 1
                if (position - 1) % shards != shard:
                    continue
                indices = order[chunk_start : chunk_start + chunk].copy()
                rng = np.random.default_rng([self.config.seed, current, chunk_start])
                skip = max(0, first_wanted - first_batch)
                batches = self._chunk(indices, rng, skip)
                yield [
                    (current, first_batch + skip + offset, *batch)
                    for offset, batch in enumerate(batches)
                ]

    def _chunk(self, indices: np.ndarray, rng: np.random.Generator, skip: int) -> list[tuple]:
        """The chunk's samples drawn and prepared, collated into batches of similar width,
        but for the first ``skip`` of them (trained on before a resume)."""
        papers = [self._paper(i, rng) for i in indices]
        for k in range(len(indices)):
            while papers[k] is None:  # mathtext draws this formula in no font: replace it
                log.warning("%s: mathtext cannot draw it", self.samples[indices[k]].where)
                indices[k] = rng.integers(len(self.samples))
                papers[k] = self._paper(indices[k], rng)
        inputs = [self._prepare(paper, rng) for paper in papers]
        size = self.config.batch_size
        by_width = np.argsort([x.shape[1] for x in inputs], kind="stable")
        groups = [by_width[k : k + size] for k in range(0, len(by_width), size)]
        rng.shuffle(groups)
        return [
            self._collate([inputs[g] for g in group], [indices[g] for g in group])
            for group in groups[skip:]
        ]

    def batches(self, epoch: int, start_batch: int = 0, workers: int = 0):
        """Yield ``(epoch, batch_index, images, widths, targets, target_lengths)`` in order,
        from batch ``start_batch`` of ``epoch`` through the last epoch; images are uint8 (ink
        255), a quarter of the bytes of float32 between processes."""
        if workers:
            chunks = torch.utils.data.DataLoader(
                _Chunks(self, epoch, start_batch),
                batch_size=None,
                num_workers=workers,
                worker_init_fn=_quiet_worker,
                prefetch_factor=2,
            )
        else:
            chunks = self.chunks(epoch, start_batch)
        for batches in chunks:
            yield from batches

    def _collate(self, inputs: list[np.ndarray], indices: list[int]):
        width = max(x.shape[1] for x in inputs)
        images = np.zeros((len(inputs), 1, self.model_config.height, width), np.uint8)
        for row, x in enumerate(inputs):
            images[row, 0, :, : x.shape[1]] = np.rint(x * 255)
        ids = [self.vocab.encode(self.samples[i].label) for i in indices]
        return (
            torch.from_numpy(images),
            torch.tensor([x.shape[1] for x in inputs]),
            torch.tensor([t for seq in ids for t in seq]),
            torch.tensor([len(s) for s in ids]),
        )


class _Chunks(torch.utils.data.IterableDataset):
    """The chunks from ``epoch`` on, dealt to data-loader workers in turn; the loader
    collects from the workers in the same turn, so training sees the chunks in order."""

    def __init__(self, stream: SampleStream, epoch: int, start_batch: int):
        self.stream, self.epoch, self.start_batch = stream, epoch, start_batch

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        shard, shards = (info.id, info.num_workers) if info else (0, 1)
        return self.stream.chunks(self.epoch, self.start_batch, shard, shards)


def _quiet_worker(_: int) -> None:
    """One torch thread per data-loader process: the processes are the parallelism. (OpenCV's
    threads are set in the parent before any fork: changing them in a forked child hangs.)"""
    torch.set_num_threads(1)
    logging.getLogger("matplotlib.mathtext").setLevel(logging.ERROR)


def compact(paper: np.ndarray, height: int = 96, margin: int = 8) -> np.ndarray:
    """Crop a paper image to its ink (plus margin) and shrink it to at most ``height`` rows.

    Augmentation cost grows with pixels; the network sees 64 rows anyway.
    """
    bounds = ink_bounds(ink_map(paper), margin)
    if bounds is None:
        return paper
    paper = paper[bounds]
    if paper.shape[0] > height:
        width = max(1, round(paper.shape[1] * height / paper.shape[0]))
        paper = cv2.resize(paper, (width, height), interpolation=cv2.INTER_AREA)
    return paper


def lr_factor(step: int, progress: float, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 5 % at ``progress`` 1."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def evaluate(
    model: FormulaRecognizer, vocab: Vocabulary, images: list[np.ndarray], labels: list[str]
) -> dict[str, float]:
    """Metrics of the in-memory model through the real predictor and its default decoder, so
    checkpoints are selected on what users get.

    The PyTorch backend reads the live weights; an exported ONNX graph would be a snapshot.
    """
    was_training = model.training
    checkpoint = LoadedCheckpoint(
        model=model.eval(),
        config=model.config,
        vocab=vocab,
        sha256="training",
        path=Path("training"),
    )
    config = PredictorConfig(backend="torch", num_threads=torch.get_num_threads())
    recognizer = Recognizer(checkpoint, config)
    predictions = [r.latex for r in recognizer(images)]
    model.train(was_training)
    return score(predictions, labels)


def load_validation(args: argparse.Namespace, vocab: Vocabulary) -> dict[str, tuple[list, list]]:
    """Validation sets by name: hand/val, CROHME 2013 ink, then each ``--val-set`` folder."""
    sets: dict[str, tuple[list, list]] = {}

    def add_folder(name: str, folder: Path) -> None:
        if name in sets:
            raise SystemExit(f"two validation sets are named {name!r}: rename {folder}")
        samples = keep_encodable(read_latex_ocr(folder, "val"), vocab, f"{folder}/val").samples
        sets[name] = ([load_image(s.path) for s in samples], [s.label for s in samples])

    if args.hand:
        add_folder("hand_val", args.hand)
    if args.val_ink:
        ink = keep_encodable(read_ink(args.val_ink), vocab, "val ink")
        sets["crohme13"] = ([paper_image(s) for s in ink.samples], [s.label for s in ink.samples])
    for folder in args.val_set:
        add_folder(folder.name, folder)
    return sets


def load_training(args: argparse.Namespace, vocab: Vocabulary) -> list:
    samples: list = []
    if args.crohme_ink:
        captions = read_captions(args.captions) if args.captions else None
        ink = keep_encodable(read_ink(args.crohme_ink, captions), vocab, "ink").samples
        samples += ink * args.ink_repeat
    if args.hand:
        hand = keep_encodable(read_latex_ocr(args.hand, "train"), vocab, "hand/train").samples
        samples += hand * args.hand_repeat
    for folder in args.synthetic:
        samples += keep_encodable(read_latex_ocr(folder, "train"), vocab, str(folder)).samples
    if args.printed:
        samples += keep_encodable(printed(args, vocab), vocab, "printed").samples
    if not samples:
        raise SystemExit("no training data: give --crohme-ink, --hand, --synthetic or --printed")
    if args.limit:
        samples = [
            samples[i]
            for i in np.random.default_rng(args.seed).permutation(len(samples))[: args.limit]
        ]
    return samples


def printed(args: argparse.Namespace, vocab: Vocabulary) -> ReadResult:
    """The ``--printed`` formulas: generated over the vocabulary, a share from a label file."""
    dictionary = frozenset(vocab.tokens)
    formulas = None
    problems: list[str] = []
    if args.printed_formulas:
        formulas, problems = read_formulas(args.printed_formulas, dictionary)
    source = FormulaSource(FormulaGenerator(dictionary), formulas, args.printed_generated_share)
    return ReadResult(printed_records(args.printed, args.seed, source), problems)


def plot_history(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    steps = [h["step"] for h in history if "loss" in h]
    top.plot(steps, [h["loss"] for h in history if "loss" in h])
    top.set_ylabel("CTC loss")
    top.set_yscale("log")
    for key in sorted({k for h in history for k in h if k.endswith("_exprate")}):
        points = [(h["step"], h[key]) for h in history if key in h]
        bottom.plot(*zip(*points, strict=True), marker="o", label=key)
    bottom.set_ylabel("ExpRate")
    bottom.set_xlabel("step")
    if bottom.lines:
        bottom.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(args: argparse.Namespace) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    if args.workers:
        cv2.setNumThreads(1)  # before OpenCV starts its pool: forked workers inherit it
    torch.manual_seed(args.seed)
    cpuinfo = Path("/proc/cpuinfo")
    on_cpu = args.device == "cpu" and cpuinfo.is_file()
    if args.bf16 and on_cpu and not cpu_computes_bfloat16(cpuinfo.read_text()):
        log.warning(
            "--bf16: this CPU has no bfloat16 instructions (avx512_bf16, amx_bf16), so"
            " autocast emulates them; float32 trains faster here (85 against 47 steps/min"
            " on an Ice Lake Xeon, benchmarks/README.md)"
        )
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        hand_repeat=args.hand_repeat,
        ink_repeat=args.ink_repeat,
        augment_prob=args.augment_prob,
        seed=args.seed,
        bf16=args.bf16,
        average_decay=args.average,
    )
    state: dict = {
        "epoch": 0,
        "batch": 0,
        "step": 0,
        "seconds": 0.0,  # training time so far, for --schedule-minutes
        "best": -1.0,
        "history": [],
    }
    resume = load_checkpoint(args.resume) if args.resume else None
    start = resume or (load_checkpoint(args.init) if args.init else None)
    if start is not None:
        vocab, model = start.vocab, start.model
    else:
        vocab = build_vocab(args.dictionary)
        model = FormulaRecognizer(RecognizerConfig(num_classes=len(vocab)))
    if args.height and args.height != model.config.height:
        if resume is not None:
            raise SystemExit(f"--height: {args.resume} continues at height {model.config.height}")
        model = at_height(model, args.height)
    model.to(args.device).train()
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    average = MovingAverage(model, config.average_decay) if config.average_decay else None
    if resume is not None and resume.training_state:
        optimizer.load_state_dict(resume.training_state["optimizer"])
        if average is not None and "moving_average" in resume.training_state:
            average.model.load_state_dict(resume.training_state["moving_average"])
        state = resume.training_state["progress"]
        if "torch_rng" in resume.training_state:  # dropout continues exactly
            torch.set_rng_state(resume.training_state["torch_rng"])
    stream = SampleStream(load_training(args, vocab), vocab, model.config, config)
    validation = load_validation(args, vocab)
    total_steps = config.epochs * stream.batches_per_epoch()
    log.info(
        "%d samples, %d batches/epoch, %d steps, %.2f M parameters",
        len(stream.samples),
        stream.batches_per_epoch(),
        total_steps,
        sum(p.numel() for p in model.parameters()) / 1e6,
    )
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    args.out.mkdir(parents=True, exist_ok=True)
    metadata = {
        "name": "formula-ocr-ctc",
        "train_config": asdict(config),
        "data": {
            k: str(v)
            for k, v in vars(args).items()
            if k
            in (
                "crohme_ink",
                "captions",
                "hand",
                "synthetic",
                "printed",
                "printed_formulas",
                "val_ink",
                "val_set",
            )
        },
    }

    def save(
        name: str,
        metrics: dict | None = None,
        half: bool = False,
        path: Path | None = None,
        weights: FormulaRecognizer = model,
    ):
        training_state = None
        if not half:
            training_state = {
                "optimizer": optimizer.state_dict(),
                "progress": state,
                "torch_rng": torch.get_rng_state(),
            }
            if average is not None:
                training_state["moving_average"] = average.model.state_dict()
        metadata["trained_steps"] = state["step"]
        metadata["weights"] = "live" if weights is model else "moving average"
        save_checkpoint(
            path or args.out / name,
            weights,
            vocab,
            metadata,
            metrics or {},
            training_state,
            half=half,
        )

    def validate() -> None:
        entry = {"step": state["step"], "epoch": state["epoch"]}
        # Named like the step lines; a time budget can end a run (and validate) mid-epoch.
        where = (
            f"epoch {state['epoch']} batch {state['batch']}/{stream.batches_per_epoch()}"
            if state["batch"]
            else f"end of epoch {state['epoch'] - 1}"
        )
        candidates = [("", "", model)]
        if average is not None:
            candidates.append(("average_", " of the moving average", average.model))
        scored = []
        for prefix, label, weights in candidates:
            metrics = {name: evaluate(weights, vocab, *data) for name, data in validation.items()}
            entry.update({f"{prefix}{name}_exprate": m["exprate"] for name, m in metrics.items()})
            log.info(
                "validation%s at step %d (%s) %s", label, state["step"], where, json.dumps(metrics)
            )
            # Pooled exact matches over the validation sets (their sizes differ ten-fold),
            # token errors breaking ties.
            selection = sum(
                m["n"] * (m["exprate"] + 0.01 * (1 - m["token_error_rate"]))
                for m in metrics.values()
            )
            scored.append((selection, metrics, weights))
        state["history"].append(entry)
        selection, metrics, weights = max(scored, key=lambda s: s[0])
        if selection > state["best"]:
            state["best"] = selection
            save("best.pt", metrics, weights=weights)
            if args.ship:
                save("", metrics, half=True, path=args.ship, weights=weights)
                log.info("shipped %s (%s weights)", args.ship, metadata["weights"])
        save("last.pt", scored[0][1])
        plot_history(state["history"], args.out / "curves.png")

    budget = args.schedule_minutes * 60

    def progress() -> float:
        """How far along the learning-rate schedule: by steps, or by time with a budget."""
        if budget:
            return state["seconds"] / budget
        warmup = config.warmup_steps
        return (state["step"] - warmup) / max(1, total_steps - warmup)

    device_type = torch.device(args.device).type
    began, first_step, running = time.time(), state["step"], []
    tick = time.time()
    for epoch, batch_index, images, widths, targets, target_lengths in stream.batches(
        state["epoch"], state["batch"], args.workers
    ):
        for group in optimizer.param_groups:
            group["lr"] = config.lr * lr_factor(state["step"], progress(), config.warmup_steps)
        images = images.to(args.device, non_blocking=True).float().div_(255)
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=config.bf16):
            log_probs, lengths = model(images, widths.to(args.device))
        loss = ctc(
            log_probs.float().transpose(0, 1),
            targets.to(args.device),
            lengths,
            target_lengths.to(args.device),
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        if average is not None:
            average.update(model)
        state["step"] += 1
        state["epoch"], state["batch"] = epoch, batch_index + 1
        now = time.time()
        state["seconds"] += now - tick
        tick = now
        running.append(loss.item())
        if state["step"] % args.log_every == 0:
            state["history"].append({"step": state["step"], "loss": float(np.mean(running))})
            log.info(
                "epoch %d batch %d/%d step %d loss %.4f lr %.2e %.1f min",
                state["epoch"],
                state["batch"],
                stream.batches_per_epoch(),
                state["step"],
                np.mean(running),
                optimizer.param_groups[0]["lr"],
                (time.time() - began) / 60,
            )
            running = []
        if budget and state["seconds"] >= budget:
            log.info("time budget of %.1f min spent at step %d", budget / 60, state["step"])
            validate()
            return state
        if state["batch"] == stream.batches_per_epoch():
            state["epoch"] += 1
            state["batch"] = 0
            if state["epoch"] % args.validate_every == 0 or state["epoch"] == config.epochs:
                validate()
            else:
                save("last.pt")
            tick = time.time()  # validation is not training time
        if state["step"] % args.save_every == 0:
            save("last.pt")
        out_of_time = args.max_minutes and time.time() - began > args.max_minutes * 60
        if out_of_time or (args.max_steps and state["step"] - first_step >= args.max_steps):
            save("last.pt")
            log.info(
                "stopping at step %d; resume with --resume %s",
                state["step"],
                args.out / "last.pt",
            )
            return {}
    return state


if __name__ == "__main__":
    main(parse_args())
