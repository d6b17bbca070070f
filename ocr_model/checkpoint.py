"""Self-describing checkpoints: config, vocabulary, weights, training metadata and metrics.

One file is all a predictor needs. It is read with ``torch.load(weights_only=True)``, so a
checkpoint cannot run code, and its sha256 is the model version reported in every result.
torch is imported only by the functions that read or write weights: ``CheckpointInfo`` and the
errors are usable by the ONNX-only inference path, which never loads torch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocr_model.config import RecognizerConfig
from ocr_model.files import atomic_write
from ocr_model.vocab import Vocabulary

if TYPE_CHECKING:
    from ocr_model.model import FormulaRecognizer

FORMAT_VERSION = 1
MODEL_DATA = Path(__file__).resolve().parent.parent / "model_data"  # the shipped model files
DEFAULT_CHECKPOINT = MODEL_DATA / "recognizer.pt"


class CheckpointError(RuntimeError):
    """The checkpoint file is missing, corrupt or does not match this code."""


@dataclass
class CheckpointInfo:
    """What a checkpoint says about itself, weights aside: all a predictor needs besides them."""

    config: RecognizerConfig
    vocab: Vocabulary
    sha256: str
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "vocab": self.vocab.to_list(),
            "sha256": self.sha256,
            "metadata": self.metadata,
            "metrics": self.metrics,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path) -> CheckpointInfo:
        return cls(
            config=RecognizerConfig.from_dict(data["config"]),
            vocab=Vocabulary(tuple(data["vocab"])),
            sha256=data["sha256"],
            path=path,
            metadata=data.get("metadata", {}),
            metrics=data.get("metrics", {}),
        )


@dataclass
class LoadedCheckpoint(CheckpointInfo):
    """A checkpoint with its network built (needs torch)."""

    model: FormulaRecognizer = field(kw_only=True)
    training_state: dict[str, Any] | None = None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(
    path: str | Path,
    model: FormulaRecognizer,
    vocab: Vocabulary,
    metadata: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    training_state: dict[str, Any] | None = None,
    half: bool = False,
) -> Path:
    """Write a checkpoint atomically.

    Args:
        half: store floating weights as fp16 (half the size; loaded back as fp32).
        training_state: optimizer/scheduler/step state for resuming; left out of shipped files.
    """
    import torch

    path = Path(path)
    weights = {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
        for k, v in model.state_dict().items()
    }
    payload = {
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "vocab": vocab.to_list(),
        "state_dict": weights,
        "metadata": metadata or {},
        "metrics": metrics or {},
    }
    if training_state is not None:
        payload["training_state"] = training_state
    with atomic_write(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path | None = None) -> LoadedCheckpoint:
    """Build the network from a checkpoint file (default: the shipped one in ``model_data/``).

    Raises:
        CheckpointError: with the path and the reason, for any unreadable or mismatched file.
    """
    import torch

    from ocr_model.model import FormulaRecognizer

    path = Path(path) if path is not None else DEFAULT_CHECKPOINT
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for damaged files
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not a formula-ocr checkpoint (format {FORMAT_VERSION})")
    try:
        vocab = Vocabulary(tuple(payload["vocab"]))
        config = RecognizerConfig.from_dict(payload["config"])
        if config.num_classes != len(vocab):
            raise CheckpointError(
                f"{path}: config has {config.num_classes} classes, vocabulary {len(vocab)}"
            )
        model = FormulaRecognizer(config)
        weights = {
            k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()
        }
        model.load_state_dict(weights)
    except (KeyError, TypeError, RuntimeError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{path} does not match this model code: {exc}") from exc
    model.eval()
    return LoadedCheckpoint(
        model=model,
        config=config,
        vocab=vocab,
        sha256=file_sha256(path),
        path=path,
        metadata=payload.get("metadata", {}),
        metrics=payload.get("metrics", {}),
        training_state=payload.get("training_state"),
    )
