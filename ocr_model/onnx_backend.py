"""ONNX Runtime backend: the same network, exported once per checkpoint, run by onnxruntime.

ONNX Runtime fuses convolution + batch norm + activation and runs the LSTMs as single kernels,
which makes CPU inference of a CRNN like ours faster than PyTorch eager (see
``benchmarks/README.md``). The export is cached on disk so that each worker process pays it
once per model version, not once per start.

Usage:
    >>> recognizer = load_recognizer(config=PredictorConfig(backend="onnx"))
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from ocr_model import model as model_module
from ocr_model.checkpoint import LoadedCheckpoint
from ocr_model.files import atomic_write

OPSET = 17
INPUTS = ("images", "widths")
OUTPUTS = ("log_probs", "lengths")


def default_cache_dir() -> Path:
    """Where exported graphs live: ``FORMULA_OCR_CACHE_DIR``, else the user cache directory.

    Never the package folder, which may be read-only or shared between installs.
    """
    if "FORMULA_OCR_CACHE_DIR" in os.environ:
        return Path(os.environ["FORMULA_OCR_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "formula-ocr"


def graph_key(checkpoint: LoadedCheckpoint) -> str:
    """Cache key: the graph depends on the weights, the network code and the exporter."""
    code = hashlib.sha256(Path(model_module.__file__).read_bytes()).hexdigest()
    versions = f"{code}:{torch.__version__}:{OPSET}"
    return f"{checkpoint.sha256[:16]}-{hashlib.sha256(versions.encode()).hexdigest()[:12]}"


def export_onnx(checkpoint: LoadedCheckpoint, path: Path) -> Path:
    """Export the checkpoint's network to ``path`` with dynamic batch and width axes.

    The file is written to a temporary name and renamed, so worker processes exporting at the
    same time never read a half-written graph.
    """
    model = checkpoint.model.eval()
    stride = model.config.width_stride
    # Two samples of different widths, so that nothing batch- or width-specific is traced in.
    images = torch.zeros(2, 1, model.config.height, 8 * stride)
    widths = torch.tensor([8 * stride, 4 * stride])
    # The tracer warns about shape checks inside nn.LSTM and about the legacy exporter; both
    # are harmless here (shapes come from the inputs) and would only alarm users.
    with atomic_write(path) as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (images, widths),
            str(tmp),
            dynamo=False,  # the dynamo exporter needs onnxscript, which we do not ship
            input_names=list(INPUTS),
            output_names=list(OUTPUTS),
            opset_version=OPSET,
            dynamic_axes={
                "images": {0: "batch", 3: "width"},
                "widths": {0: "batch"},
                "log_probs": {0: "batch", 1: "steps"},
                "lengths": {0: "batch"},
            },
        )
    return path


def cached_export(checkpoint: LoadedCheckpoint, cache_dir: Path | None = None) -> Path:
    """The exported graph for ``checkpoint``, exporting it on first use.

    Falls back to a fresh temporary directory when the cache directory is not writable.
    """
    cache_dir = cache_dir or default_cache_dir()
    path = cache_dir / f"recognizer-{graph_key(checkpoint)}.onnx"
    if path.is_file():
        return path
    try:
        return export_onnx(checkpoint, path)
    except OSError:
        return export_onnx(checkpoint, Path(tempfile.mkdtemp(prefix="formula-ocr-")) / path.name)


class OnnxBackend:
    """Runs the exported network with ONNX Runtime on CPU; a drop-in for ``TorchBackend``.

    Args:
        checkpoint: a loaded checkpoint; its network is exported (or taken from the cache).
        num_threads: intra-op threads, as for ``torch.set_num_threads``.
        cache_dir: where exported graphs are kept (default: ``default_cache_dir()``).
    """

    def __init__(
        self, checkpoint: LoadedCheckpoint, num_threads: int, cache_dir: Path | None = None
    ):
        self.path = cached_export(checkpoint, cache_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads
        # One graph node at a time: parallel branches would oversubscribe a prefork worker's
        # share of cores.
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(
            str(self.path), options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, images: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``B x 1 x H x W`` float32, ``B`` int64 -> ``B x T x C`` log-probs, ``B`` lengths."""
        feeds = {
            "images": np.ascontiguousarray(images, dtype=np.float32),
            "widths": np.ascontiguousarray(widths, dtype=np.int64),
        }
        log_probs, lengths = self.session.run(list(OUTPUTS), feeds)
        return log_probs, lengths
