"""Recognizer speed: our predictor (each backend) against the reference architecture, side by side.

Measured in one run on the crops of the ``hand`` validation split: ms per formula at batch 1 and
formulas/s at the best batch size for each backend (end to end through ``Recognizer``:
preprocessing, batching, network, CTC decoding), the same for the reference architecture of
``shared/reference.md`` rebuilt here with random weights (its speed does not depend on them), the
peak RSS of a fresh process that loads the model and recognizes the split, and whether the ONNX and
PyTorch backends decode every crop identically. Timings are the median of ``--repeats`` passes.

Reproduce the numbers in benchmarks/README.md:
    nice -n 10 python benchmarks/recognizer_speed.py --out benchmarks/results/recognizer_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime
import torch
import torchvision
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ocr_model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint  # noqa: E402
from ocr_model.model import MaskedSqueezeExcitation, sinusoidal_encoding_2d  # noqa: E402
from ocr_model.predictor import PredictorConfig, Recognizer  # noqa: E402
from training.datasets import load_image, read_latex_ocr  # noqa: E402
from training.metrics import score  # noqa: E402

BACKENDS = ("torch", "onnx")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "hand",
                        help="dataset root in Data-for-LaTeX_OCR layout")  # fmt: skip
    parser.add_argument("--split", default="val")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="intra-op threads for every model (this machine's cores)")  # fmt: skip
    parser.add_argument("--batch-sizes", default="1,4,8,16,32,64",
                        help="max_batch_size values swept for throughput")  # fmt: skip
    parser.add_argument("--decoder", choices=("greedy", "beam"), default=PredictorConfig.decoder,
                        help="CTC decoding of our predictor")  # fmt: skip
    parser.add_argument("--lm-weight", type=float, default=PredictorConfig.lm_weight,
                        help="language-model weight of the beam search (0: off)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="timed passes; median reported")
    parser.add_argument("--reference-samples", type=int, default=12,
                        help="crops timed through the reference (about 0.25 s each)")  # fmt: skip
    parser.add_argument("--breakdown", action="store_true",
                        help="also time the CNN alone per batch size")  # fmt: skip
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    return parser.parse_args(argv)


@dataclass
class Timing:
    wall_s: float
    cpu_s: float


class ReferenceRecognizer(nn.Module):
    """The reference architecture (``shared/reference.md``) with random weights.

    600x600 RGB blended with its 180-degree rotation, ResNet-18 trunk (-> 512 x 19 x 19), 2-D
    sinusoidal positional encoding, squeeze-excitation, dropout 0.3, batch norm, the map
    flattened to 361 steps, two BiLSTM layers of 512, a linear layer, log-softmax.
    """

    size = 600

    def __init__(self, num_classes: int):
        super().__init__()
        resnet = torchvision.models.resnet18(weights=None)
        self.trunk = nn.Sequential(*list(resnet.children())[:-2])  # drop avgpool and fc
        self.register_buffer("position", sinusoidal_encoding_2d(512, 19, 19), persistent=False)
        self.excitation = MaskedSqueezeExcitation(512, 16)
        self.dropout = nn.Dropout(0.3)
        self.norm = nn.BatchNorm2d(512)
        self.lstm = nn.LSTM(512, 512, num_layers=2, bidirectional=True, batch_first=True)
        self.classifier = nn.Linear(1024, num_classes)

    @classmethod
    def prepare(cls, gray: np.ndarray) -> np.ndarray:
        """Its input: the crop resized to 600x600 RGB, averaged with its rotated copy."""
        rgb = cv2.cvtColor(cv2.resize(gray, (cls.size, cls.size)), cv2.COLOR_GRAY2RGB)
        combined = (rgb.astype(np.float32) + rgb[::-1, ::-1].astype(np.float32)) / 510.0
        return combined.transpose(2, 0, 1)  # H x W x 3 -> 3 x H x W

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.trunk(images)  # B x 3 x 600 x 600 -> B x 512 x 19 x 19
        x = x + self.position
        every_column = torch.ones(x.shape[0], x.shape[3], dtype=torch.bool)
        x = self.norm(self.dropout(self.excitation(x, every_column)))
        x = x.flatten(2).transpose(1, 2)  # B x 512 x 19 x 19 -> B x 361 x 512
        x, _ = self.lstm(x)
        return self.classifier(x).log_softmax(dim=2)


def timed(run: Callable[[], object], repeats: int, warm_up: Callable[[], object]) -> Timing:
    """Median wall and CPU seconds of ``repeats`` calls of ``run``, after one ``warm_up`` call.

    CPU time (all threads of this process) is what the work costs; on a machine shared with a
    training run it stays close to the idle wall time while wall time does not.
    """
    warm_up()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return Timing(statistics.median(walls), statistics.median(cpus))


def load_crops(args: argparse.Namespace) -> tuple[list[np.ndarray], list[str]]:
    samples = read_latex_ocr(args.data, args.split).samples
    if not samples:
        raise SystemExit(f"no images found in {args.data} split {args.split}")
    return [load_image(s.path) for s in samples], [s.label for s in samples]


def measure_backend(
    args: argparse.Namespace, backend: str, crops: list[np.ndarray], labels: list[str]
) -> tuple[dict, list[str]]:
    checkpoint = load_checkpoint(args.checkpoint)
    height = checkpoint.model.config.height
    per_batch: dict[str, float] = {}
    cpu_ms: dict[str, float] = {}
    predictions: list[str] = []
    for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
        # Pixels per batch generous enough that the batch size is what limits a batch.
        config = PredictorConfig(max_batch_size=batch_size, backend=backend,
                                 max_batch_pixels=batch_size * height * 1024,
                                 decoder=args.decoder, lm_weight=args.lm_weight,
                                 num_threads=args.threads)  # fmt: skip
        recognizer = Recognizer(checkpoint, config)
        warm_up = lambda: recognizer(crops[:batch_size])  # noqa: B023, E731
        if batch_size == 1:
            run = lambda: [recognizer([c]) for c in crops]  # noqa: B023, E731
        else:
            run = lambda: recognizer(crops)  # noqa: B023, E731
        timing = timed(run, args.repeats, warm_up)
        per_batch[str(batch_size)] = round(len(crops) / timing.wall_s, 1)
        cpu_ms[str(batch_size)] = round(1000 * timing.cpu_s / len(crops), 1)
        if not predictions:
            predictions = [r.latex for r in recognizer(crops)]
    best = max(per_batch, key=per_batch.get)
    memory = memory_of_fresh_process(args, backend)
    figures = {
        "ms_batch1": round(1000.0 / per_batch["1"], 1) if "1" in per_batch else None,
        "formulas_per_s": per_batch[best],
        "best_batch_size": int(best),
        "formulas_per_s_by_batch_size": per_batch,
        "cpu_ms_per_formula_by_batch_size": cpu_ms,
        **{k: memory[k] for k in ("peak_rss_mb", "uss_mb")},
        "accuracy": score(predictions, labels),
    }
    return figures, predictions


def memory_of_fresh_process(args: argparse.Namespace, backend: str) -> dict:
    """Peak RSS and USS of a worker-like process (``recognizer_memory.py``) on the split."""
    command = [sys.executable, str(Path(__file__).with_name("recognizer_memory.py")),
               "--images", str(args.data / "images" / f"images_{args.split}"),
               "--checkpoint", str(args.checkpoint), "--backend", backend,
               "--threads", str(args.threads)]  # fmt: skip
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_reference(args: argparse.Namespace, crops: list[np.ndarray], classes: int) -> dict:
    torch.set_num_threads(args.threads)
    model = ReferenceRecognizer(classes).eval()
    sample = crops[: args.reference_samples]

    def run() -> None:
        for crop in sample:
            run_one(model, crop)

    timing = timed(run, max(1, args.repeats // 2), lambda: run_one(model, sample[0]))
    return {
        "ms_batch1": round(1000.0 * timing.wall_s / len(sample), 1),
        "cpu_ms_batch1": round(1000.0 * timing.cpu_s / len(sample), 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "timed_crops": len(sample),
    }


def run_one(model: ReferenceRecognizer, crop: np.ndarray) -> None:
    with torch.inference_mode():
        model(torch.from_numpy(ReferenceRecognizer.prepare(crop)[None]))


def breakdown(args: argparse.Namespace, crops: list[np.ndarray]) -> dict:
    """Per batch size: CPU ms per formula in the CNN alone and in the whole network (PyTorch)."""
    checkpoint = load_checkpoint(args.checkpoint)
    recognizer = Recognizer(checkpoint, PredictorConfig(num_threads=args.threads))
    model = checkpoint.model
    inputs = sorted((recognizer.prepare(c) for c in crops), key=lambda a: a.shape[1])
    result = {}
    for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
        batches = []
        for start in range(0, len(inputs), batch_size):
            chunk = inputs[start : start + batch_size]
            images = np.zeros((len(chunk), 1, chunk[0].shape[0], chunk[-1].shape[1]), np.float32)
            for row, image in enumerate(chunk):
                images[row, 0, :, : image.shape[1]] = image
            widths = torch.tensor([image.shape[1] for image in chunk])
            batches.append((torch.from_numpy(images), widths))

        def cnn(batches: list = batches) -> None:
            with torch.inference_mode():
                for images, widths in batches:
                    model.features(images, widths)

        def network(batches: list = batches) -> None:
            with torch.inference_mode():
                for images, widths in batches:
                    model(images, widths)

        cnn_s = timed(cnn, args.repeats, cnn).cpu_s
        total_s = timed(network, args.repeats, network).cpu_s
        result[str(batch_size)] = {
            "cnn_cpu_ms_per_formula": round(1000 * cnn_s / len(inputs), 2),
            "network_cpu_ms_per_formula": round(1000 * total_s / len(inputs), 2),
            "cnn_share": round(cnn_s / total_s, 2),
        }
    return result


def main(args: argparse.Namespace) -> dict:
    if not args.checkpoint.is_file():
        raise SystemExit(
            f"no checkpoint at {args.checkpoint}: the shipped model is not there yet; "
            "pass --checkpoint PATH (any checkpoint of the deployed size times the same)"
        )
    crops, labels = load_crops(args)
    checkpoint = load_checkpoint(args.checkpoint)
    backends, predictions = {}, {}
    for backend in BACKENDS:
        backends[backend], predictions[backend] = measure_backend(args, backend, crops, labels)
    reference = measure_reference(args, crops, checkpoint.model.config.num_classes)
    for figures in backends.values():
        figures["speedup_batch1"] = round(reference["ms_batch1"] / figures["ms_batch1"], 1)
    agree = sum(a == b for a, b in zip(predictions["torch"], predictions["onnx"], strict=True))
    default = PredictorConfig().backend
    ours = backends[default]
    result = {
        "backend": default,
        "ours_ms_batch1": ours["ms_batch1"],
        "ours_formulas_per_s": ours["formulas_per_s"],
        "best_batch_size": ours["best_batch_size"],
        "reference_ms_batch1": reference["ms_batch1"],
        "speedup_batch1": ours["speedup_batch1"],
        "peak_rss_mb": ours["peak_rss_mb"],
        "backends": backends,
        "decoder": args.decoder,
        "lm_weight": args.lm_weight if args.decoder == "beam" else 0.0,
        "onnx_torch_agreement": f"{agree}/{len(crops)}",
        "reference": reference,
        "model": {
            "checkpoint": str(args.checkpoint),
            "sha256": checkpoint.sha256,
            "parameters": sum(p.numel() for p in checkpoint.model.parameters()),
            "config": checkpoint.model.config.to_dict(),
        },
        "setup": {
            "crops": len(crops),
            "data": f"{args.data} ({args.split})",
            "threads": args.threads,
            "cpu_count": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "repeats": args.repeats,
        },
    }
    if args.breakdown:
        result["breakdown_torch"] = breakdown(args, crops)
    return result


if __name__ == "__main__":
    arguments = parse_args()
    output = main(arguments)
    if output:
        text = json.dumps(output, indent=2)
        print(text)
        if arguments.out:
            arguments.out.parent.mkdir(parents=True, exist_ok=True)
            arguments.out.write_text(text + "\n", encoding="utf-8")
