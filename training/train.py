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
    # phase 5 (shipped, sha256 07285074...) starts from phase 4 as shipped (fce7f95e...), on
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

Interrupt it at any time and continue with ``--resume runs/main/last.pt``: the batch order and
augmentation are functions of (seed, epoch, batch), so a resumed run continues exactly.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
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
from training.datasets import (
    ImageSample,
    keep_encodable,
    load_dictionary,
    load_image,
    paper_image,
    read_captions,
    read_ink_folder,
    read_latex_ocr,
)
from training.metrics import score

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
    max_width: int = 1024  # training crops wider than this are scaled down
    augment_prob: float = 0.5  # share of samples given the scan/photo look of training.augment
    seed: int = 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--out", type=Path, required=True, help="run folder: last.pt, best.pt, log")
    p.add_argument("--crohme-ink", type=Path, help="folder of CROHME training InkML files")
    p.add_argument("--captions", type=Path, help="CROHME normalized captions (id<TAB>tokens)")
    p.add_argument("--hand", type=Path, help="hand set root (Data-for-LaTeX_OCR layout)")
    p.add_argument(
        "--synthetic",
        type=Path,
        action="append",
        default=[],
        help="extra Data-for-LaTeX_OCR folders (split 'train'); repeatable",
    )
    p.add_argument("--val-ink", type=Path, help="InkML folder for validation (CROHME 2013)")
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
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--hand-repeat", type=int, default=TrainConfig.hand_repeat)
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument(
        "--augment-prob",
        type=float,
        default=TrainConfig.augment_prob,
        help="share of samples passed through training.augment (scan/photo look)",
    )
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--log-every", type=int, default=50, help="steps between log lines")
    p.add_argument("--save-every", type=int, default=200, help="steps between last.pt saves")
    p.add_argument("--max-minutes", type=float, default=0, help="stop (resumably) after this")
    p.add_argument("--max-steps", type=int, default=0, help="stop (resumably) after N steps")
    p.add_argument("--limit", type=int, default=0, help="use only N training samples (tests)")
    p.add_argument("--ship", type=Path, help="also write the best checkpoint here, fp16")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p.parse_args(argv)


def build_vocab(dictionary: Path) -> Vocabulary:
    """The CROHME dictionary's tokens in canonical form (layout-only tokens drop out)."""
    return Vocabulary.build(load_dictionary(dictionary))


class SampleStream:
    """Deterministic batches of prepared images: a function of (seed, epoch, batch index)."""

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
        self._images: dict[int, np.ndarray] = {}  # decoded image files, kept in memory

    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.samples) / self.config.batch_size)

    def _paper(self, index: int, rng: np.random.Generator) -> np.ndarray:
        sample = self.samples[index]
        if isinstance(sample, ImageSample):
            if index not in self._images:
                self._images[index] = compact(load_image(sample.path))
            image = self._images[index]
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

    def epoch(self, epoch: int, start_batch: int = 0):
        """Yield ``(batch_index, images, widths, targets, target_lengths)``."""
        order = np.random.default_rng([self.config.seed, epoch]).permutation(len(self.samples))
        size = self.config.batch_size
        chunk = size * CHUNK_BATCHES
        for chunk_start in range(0, len(order), chunk):
            first_batch = chunk_start // size
            last_batch = first_batch + math.ceil(min(chunk, len(order) - chunk_start) / size)
            if last_batch <= start_batch:
                continue
            rng = np.random.default_rng([self.config.seed, epoch, chunk_start])
            indices = order[chunk_start : chunk_start + chunk]
            inputs = [self._prepare(self._paper(i, rng), rng) for i in indices]
            by_width = np.argsort([x.shape[1] for x in inputs], kind="stable")
            groups = [by_width[k : k + size] for k in range(0, len(by_width), size)]
            rng.shuffle(groups)
            for offset, group in enumerate(groups):
                batch_index = first_batch + offset
                if batch_index >= start_batch:
                    yield (
                        batch_index,
                        *self._collate([inputs[g] for g in group], [indices[g] for g in group]),
                    )

    def _collate(self, inputs: list[np.ndarray], indices: list[int]):
        width = max(x.shape[1] for x in inputs)
        images = np.zeros((len(inputs), 1, self.model_config.height, width), np.float32)
        for row, x in enumerate(inputs):
            images[row, 0, :, : x.shape[1]] = x
        ids = [self.vocab.encode(self.samples[i].label) for i in indices]
        return (
            torch.from_numpy(images),
            torch.tensor([x.shape[1] for x in inputs]),
            torch.tensor([t for seq in ids for t in seq]),
            torch.tensor([len(s) for s in ids]),
        )


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


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 5 %."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def evaluate(
    model: FormulaRecognizer, vocab: Vocabulary, images: list[np.ndarray], labels: list[str]
) -> dict[str, float]:
    """Metrics of the in-memory model through the real predictor and its default decoder, so
    checkpoints are selected on what users get.

    The PyTorch backend reads the live weights; an exported ONNX graph would be a snapshot.
    """
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
    model.train()
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
        ink = keep_encodable(read_ink_folder(args.val_ink), vocab, "val ink")
        sets["crohme13"] = ([paper_image(s) for s in ink.samples], [s.label for s in ink.samples])
    for folder in args.val_set:
        add_folder(folder.name, folder)
    return sets


def load_training(args: argparse.Namespace, vocab: Vocabulary) -> list:
    samples: list = []
    if args.crohme_ink:
        captions = read_captions(args.captions) if args.captions else None
        samples += keep_encodable(read_ink_folder(args.crohme_ink, captions), vocab, "ink").samples
    if args.hand:
        hand = keep_encodable(read_latex_ocr(args.hand, "train"), vocab, "hand/train").samples
        samples += hand * args.hand_repeat
    for folder in args.synthetic:
        samples += keep_encodable(read_latex_ocr(folder, "train"), vocab, str(folder)).samples
    if not samples:
        raise SystemExit("no training data: give --crohme-ink, --hand or --synthetic")
    if args.limit:
        samples = [
            samples[i]
            for i in np.random.default_rng(args.seed).permutation(len(samples))[: args.limit]
        ]
    return samples


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
    torch.manual_seed(args.seed)
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        hand_repeat=args.hand_repeat,
        augment_prob=args.augment_prob,
        seed=args.seed,
    )
    state: dict = {"epoch": 0, "batch": 0, "step": 0, "best": -1.0, "history": []}
    resume = load_checkpoint(args.resume) if args.resume else None
    start = resume or (load_checkpoint(args.init) if args.init else None)
    if start is not None:
        vocab, model = start.vocab, start.model
    else:
        vocab = build_vocab(args.dictionary)
        model = FormulaRecognizer(RecognizerConfig(num_classes=len(vocab)))
    model.to(args.device).train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    if resume is not None and resume.training_state:
        optimizer.load_state_dict(resume.training_state["optimizer"])
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
            if k in ("crohme_ink", "captions", "hand", "synthetic", "val_ink", "val_set")
        },
    }

    def save(name: str, metrics: dict | None = None, half: bool = False, path: Path | None = None):
        training_state = (
            None
            if half
            else {
                "optimizer": optimizer.state_dict(),
                "progress": state,
                "torch_rng": torch.get_rng_state(),
            }
        )
        metadata["trained_steps"] = state["step"]
        save_checkpoint(
            path or args.out / name,
            model,
            vocab,
            metadata,
            metrics or {},
            training_state,
            half=half,
        )

    began, first_step, running = time.time(), state["step"], []
    while state["epoch"] < config.epochs:
        for batch_index, images, widths, targets, target_lengths in stream.epoch(
            state["epoch"], state["batch"]
        ):
            for group in optimizer.param_groups:
                group["lr"] = config.lr * lr_factor(state["step"], total_steps, config.warmup_steps)
            log_probs, lengths = model(images.to(args.device), widths.to(args.device))
            loss = ctc(log_probs.transpose(0, 1), targets, lengths, target_lengths)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            state["step"] += 1
            state["batch"] = batch_index + 1
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
        state["epoch"] += 1
        state["batch"] = 0
        metrics = {name: evaluate(model, vocab, *data) for name, data in validation.items()}
        entry = {"step": state["step"], "epoch": state["epoch"]}
        entry.update({f"{name}_exprate": m["exprate"] for name, m in metrics.items()})
        state["history"].append(entry)
        log.info("epoch %d validation %s", state["epoch"], json.dumps(metrics))
        # Pooled exact matches over the validation sets (their sizes differ ten-fold),
        # token errors breaking ties.
        selection = sum(
            m["n"] * (m["exprate"] + 0.01 * (1 - m["token_error_rate"])) for m in metrics.values()
        )
        if selection > state["best"]:
            state["best"] = selection
            save("best.pt", metrics)
            if args.ship:
                save("", metrics, half=True, path=args.ship)
                log.info("shipped %s", args.ship)
        save("last.pt", metrics)
        plot_history(state["history"], args.out / "curves.png")
    return state


if __name__ == "__main__":
    main(parse_args())
