"""The recognizer users call: crops in, ``Recognition``s out, tensors never exposed.

Usage:
    >>> recognizer = load_recognizer()
    >>> [r.latex for r in recognizer([crop1, crop2])]

With the default ONNX backend nothing here imports torch (see ``ocr_model.onnx_backend``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ocr_model.checkpoint import (
    DEFAULT_CHECKPOINT,
    CheckpointInfo,
    LoadedCheckpoint,
    load_checkpoint,
)
from ocr_model.decoding import beam_decode, greedy_decode
from ocr_model.language_model import DEFAULT_LANGUAGE_MODEL, Fusion, TokenLanguageModel
from ocr_model.onnx_backend import OnnxBackend, exported_graph
from ocr_model.postprocess import repair_latex
from ocr_model.preprocessing import prepare_crop
from ocr_model.vocab import canonical_latex

if TYPE_CHECKING:
    from ocr_model.model import FormulaRecognizer


@dataclass
class Recognition:
    """One crop's result.

    Attributes:
        latex: canonical space-separated LaTeX.
        confidence: 0..1, see ``ocr_model.decoding`` for how it is computed.
        repaired: braces or script arguments had to be fixed to make valid LaTeX.
    """

    latex: str
    confidence: float
    repaired: bool = False


def default_threads() -> int:
    """Threads per process: the cores divided among Celery's prefork children.

    ``FORMULA_OCR_TORCH_THREADS`` wins; otherwise cores / ``FORMULA_OCR_CONCURRENCY``
    (default: all cores for one process).
    """
    if "FORMULA_OCR_TORCH_THREADS" in os.environ:
        return max(1, int(os.environ["FORMULA_OCR_TORCH_THREADS"]))
    processes = int(os.environ.get("FORMULA_OCR_CONCURRENCY", "1"))
    return max(1, (os.cpu_count() or 1) // max(1, processes))


@dataclass
class PredictorConfig:
    """How crops are batched and decoded."""

    # Batch 8 measured faster per formula than 32 on 2 cores, and ~90 MB lighter at peak
    # (benchmarks/README.md, "Recognizer speed").
    max_batch_size: int = 8  # crops per forward pass
    max_batch_pixels: int = 8 * 64 * 1024  # padded pixels per forward pass (bounds memory)
    max_width: int = 2048  # wider crops are scaled down to this many pixels
    # Beam search kept to valid syntax reads hand/val at 77.9 % ExpRate against greedy's 70.6 %
    # (it recovers symbols whose probability is spread over several frames) for ~2 ms CPU per
    # formula (benchmarks/README.md, "Decoding"); greedy stays for the last bit of speed.
    decoder: str = "beam"  # "beam" or "greedy"
    beam_width: int = 8
    # The beam ranks prefixes with the formula language model too (ocr_model.language_model):
    # CROHME 2013 ExpRate 25.2 -> 26.6 %, printed val 59.7 -> 60.0 %, for 8 % fewer formulas/s
    # (benchmarks/README.md, "Language model"). Weight 0 turns it off; greedy never uses it.
    language_model: str | Path | None = None  # None: model_data/language.json.gz
    lm_weight: float = 0.1
    length_bonus: float = 0.5
    # ONNX Runtime measured ~2x faster than PyTorch eager with identical greedy output on
    # hand/val (benchmarks/README.md); the graph is exported once per model version and cached.
    backend: str = "onnx"  # "onnx" or "torch"
    num_threads: int | None = None  # None: default_threads()


class Backend(Protocol):
    def __call__(self, images: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``B x 1 x H x W`` float32, ``B`` int64 -> ``B x T x C`` log-probs, ``B`` lengths."""
        ...


class TorchBackend:
    """Runs the network with PyTorch eager (``num_threads`` is process-wide in torch)."""

    def __init__(self, model: FormulaRecognizer, num_threads: int | None = None):
        import torch

        self.model = model.eval()
        if num_threads:
            torch.set_num_threads(num_threads)

    def __call__(self, images: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        device = next(self.model.parameters()).device  # a network still on the GPU in training
        with torch.inference_mode():
            log_probs, lengths = self.model(
                torch.from_numpy(images).to(device), torch.from_numpy(widths).to(device)
            )
        return log_probs.float().cpu().numpy(), lengths.cpu().numpy()


class Recognizer:
    """Owns preprocessing, batching by width, inference and decoding.

    Args:
        checkpoint: a checkpoint file, or a loaded checkpoint. The PyTorch backend runs a loaded
            checkpoint's network as it is in memory; the ONNX backend always runs the export of
            the checkpoint *file* (``checkpoint.path``).
        config: batching and decoding settings.
    """

    def __init__(
        self, checkpoint: str | Path | LoadedCheckpoint, config: PredictorConfig | None = None
    ):
        self.config = config or PredictorConfig()
        if self.config.decoder not in ("greedy", "beam"):
            raise ValueError(f"unknown decoder {self.config.decoder!r}: use 'greedy' or 'beam'")
        threads = self.config.num_threads or default_threads()
        if self.config.backend == "torch":
            loaded = (
                checkpoint
                if isinstance(checkpoint, LoadedCheckpoint)
                else load_checkpoint(checkpoint)
            )
            self.backend: Backend = TorchBackend(loaded.model, threads)
            self.checkpoint: CheckpointInfo = loaded
        elif self.config.backend == "onnx":
            path = checkpoint.path if isinstance(checkpoint, LoadedCheckpoint) else checkpoint
            graph, self.checkpoint = exported_graph(Path(path))
            self.backend = OnnxBackend(graph, threads)
        else:
            raise ValueError(f"unknown backend {self.config.backend!r}: use 'torch' or 'onnx'")
        self.vocab = self.checkpoint.vocab
        self.model_config = self.checkpoint.config
        self._class_tokens = ("", *self.vocab.tokens)  # by class id; the blank has none
        self.fusion: Fusion | None = None
        if self.config.decoder == "beam" and self.config.lm_weight > 0:
            model = TokenLanguageModel.load(self.config.language_model or DEFAULT_LANGUAGE_MODEL)
            self.fusion = Fusion(model, self.config.lm_weight, self.config.length_bonus)

    @property
    def info(self) -> dict[str, Any]:
        """What results record as the model: name, version (sha256), backend, decoding."""
        language_model = self.fusion and {
            "version": self.fusion.model.sha256,
            "weight": self.fusion.weight,
            "length_bonus": self.fusion.length_bonus,
        }
        return {
            "name": self.checkpoint.metadata.get("name", "formula-ocr-ctc"),
            "version": self.checkpoint.sha256,
            "checkpoint": self.checkpoint.path.name,
            "backend": self.config.backend,
            "decoder": self.config.decoder,
            "language_model": language_model,
        }

    def prepare(self, crop: np.ndarray) -> np.ndarray:
        """One crop as the network sees it (``height x W`` float32)."""
        return prepare_crop(
            crop, self.model_config.height, self.config.max_width, self.model_config.width_stride
        )

    def _batches(self, inputs: list[np.ndarray]) -> list[list[int]]:
        # Sorting by width keeps padding small; each batch respects both limits.
        order = sorted(range(len(inputs)), key=lambda i: inputs[i].shape[1])
        batches: list[list[int]] = []
        for index in order:
            width = inputs[index].shape[1]
            if batches:
                current = batches[-1]
                pixels = (len(current) + 1) * width * self.model_config.height
                if len(current) < self.config.max_batch_size and (
                    pixels <= self.config.max_batch_pixels
                ):
                    current.append(index)
                    continue
            batches.append([index])
        return batches

    def _decode(self, log_probs: np.ndarray) -> Recognition:
        if self.config.decoder == "beam":
            ids, confidence = beam_decode(
                log_probs, self.config.beam_width, tokens=self._class_tokens, fusion=self.fusion
            )
        else:
            ids, confidence = greedy_decode(log_probs)
        tokens, repaired = repair_latex(self.vocab.decode(ids))
        # The vocabulary still holds spellings that canonical labels no longer use (``'``).
        latex = canonical_latex(" ".join(tokens))
        return Recognition(latex, float(np.clip(confidence, 0.0, 1.0)), repaired)

    def __call__(self, crops: list[np.ndarray]) -> list[Recognition]:
        """Recognize crops; results come back in input order, ``[]`` for no crops."""
        inputs = [self.prepare(crop) for crop in crops]
        results: list[Recognition | None] = [None] * len(inputs)
        for batch in self._batches(inputs):
            width = max(inputs[i].shape[1] for i in batch)
            images = np.zeros((len(batch), 1, self.model_config.height, width), np.float32)
            for row, index in enumerate(batch):
                images[row, 0, :, : inputs[index].shape[1]] = inputs[index]
            widths = np.array([inputs[i].shape[1] for i in batch], np.int64)
            log_probs, lengths = self.backend(images, widths)
            for row, index in enumerate(batch):
                results[index] = self._decode(log_probs[row, : lengths[row]])
        return results  # type: ignore[return-value]


def load_recognizer(
    path: str | Path | None = None, config: PredictorConfig | None = None
) -> Recognizer:
    """Build a ``Recognizer`` from a checkpoint (default: the one shipped in ``model_data/``).

    Usage:
        >>> recognizer = load_recognizer(config=PredictorConfig(backend="onnx"))
        >>> recognizer([image])[0].latex
    """
    return Recognizer(Path(path) if path is not None else DEFAULT_CHECKPOINT, config)
