"""ONNX Runtime backend: the same network, exported once per checkpoint, run by onnxruntime.

ONNX Runtime fuses convolution + batch norm + activation and runs the LSTMs as single kernels,
which makes CPU inference of a CRNN like ours faster than PyTorch eager (see
``benchmarks/README.md``). The export is cached on disk so that each worker process pays it
once per model version, not once per start.

This module never imports torch: on a cache miss the export runs in a child process
(``python -m ocr_model.onnx_export``), and the config and vocabulary come from the export's
JSON side file. A worker that recognizes with ONNX Runtime so stays ~500 MB smaller, the
resident size of the CUDA build of PyTorch.

Usage:
    >>> recognizer = load_recognizer(config=PredictorConfig(backend="onnx"))
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ocr_model.checkpoint import CheckpointError, CheckpointInfo, file_sha256

OPSET = 17
INPUTS = ("images", "widths")  # the names OnnxBackend feeds
OUTPUTS = ("log_probs", "lengths")
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def default_cache_dir() -> Path:
    """Where exported graphs live: ``FORMULA_OCR_CACHE_DIR``, else the user cache directory.

    Never the package folder, which may be read-only or shared between installs.
    """
    if "FORMULA_OCR_CACHE_DIR" in os.environ:
        return Path(os.environ["FORMULA_OCR_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "formula-ocr"


def graph_key(sha256: str) -> str:
    """Cache key: the graph depends on the weights, the network code and the exporter."""
    code = hashlib.sha256(Path(__file__).with_name("model.py").read_bytes()).hexdigest()
    versions = f"{code}:{version('torch')}:{OPSET}"
    return f"{sha256[:16]}-{hashlib.sha256(versions.encode()).hexdigest()[:12]}"


def side_file(graph: Path) -> Path:
    """The JSON that describes an exported graph (config, vocabulary, sha256, metadata)."""
    return graph.with_suffix(".json")


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def _export_in_child(checkpoint: Path, graph: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "ocr_model.onnx_export", str(checkpoint), str(graph)],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode == 2:
        raise CheckpointError(done.stderr.strip())
    if done.returncode != 0:
        raise RuntimeError(f"ONNX export of {checkpoint} failed: {done.stderr.strip()[-2000:]}")


def exported_graph(checkpoint: Path, cache_dir: Path | None = None) -> tuple[Path, CheckpointInfo]:
    """The exported graph of a checkpoint file and what the checkpoint says about itself.

    Exports on first use (in a child process); falls back to a fresh temporary folder when the
    cache folder is not writable.

    Raises:
        CheckpointError: the checkpoint is missing, unreadable or does not match this code.
    """
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise CheckpointError(f"checkpoint not found: {checkpoint}")
    sha256 = file_sha256(checkpoint)
    cache_dir = cache_dir or default_cache_dir()
    if not _writable(cache_dir):
        cache_dir = Path(tempfile.mkdtemp(prefix="formula-ocr-"))
    graph = cache_dir / f"recognizer-{graph_key(sha256)}.onnx"
    side = side_file(graph)

    def read_info() -> CheckpointInfo:
        return CheckpointInfo.from_dict(json.loads(side.read_text()), path=checkpoint)

    info = read_info() if graph.is_file() and side.is_file() else None
    # A side file of another checkpoint (a key collision or a hand-edited cache) is stale:
    # never run the wrong model.
    if info is None or info.sha256 != sha256:
        _export_in_child(checkpoint, graph)
        info = read_info()
    return graph, info


class OnnxBackend:
    """Runs an exported graph with ONNX Runtime on CPU; a drop-in for ``TorchBackend``.

    Args:
        graph: an ``.onnx`` file from ``exported_graph``.
        num_threads: intra-op threads, as for ``torch.set_num_threads``.
    """

    def __init__(self, graph: Path, num_threads: int):
        self.path = graph
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
