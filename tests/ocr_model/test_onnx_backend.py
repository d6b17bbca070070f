"""The ONNX Runtime backend computes what the PyTorch network computes, from a cached export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ocr_model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ocr_model.onnx_backend import OnnxBackend, default_cache_dir, exported_graph
from ocr_model.predictor import PredictorConfig, Recognizer, TorchBackend, load_recognizer


def padded_batch(widths: list[int], height: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = np.zeros((len(widths), 1, height, max(widths)), np.float32)
    for row, width in enumerate(widths):
        images[row, 0, :, :width] = rng.random((height, width))
    return images, np.array(widths, np.int64)


@pytest.mark.parametrize("widths", [[8], [160], [320, 48, 160, 8]])
def test_onnx_and_torch_log_probs_agree(trained_like_checkpoint: Path, widths: list[int]) -> None:
    checkpoint = load_checkpoint(trained_like_checkpoint)
    images, lengths_in = padded_batch(widths, checkpoint.model.config.height)
    graph, _ = exported_graph(trained_like_checkpoint)
    onnx_log_probs, onnx_lengths = OnnxBackend(graph, num_threads=1)(images, lengths_in)
    torch_log_probs, torch_lengths = TorchBackend(checkpoint.model)(images, lengths_in)
    np.testing.assert_array_equal(onnx_lengths, torch_lengths)
    assert onnx_log_probs.shape == torch_log_probs.shape
    np.testing.assert_allclose(onnx_log_probs, torch_log_probs, atol=1e-4)


def test_onnx_and_torch_recognizers_decode_the_same(tiny_checkpoint: Path, crops) -> None:
    by_torch = load_recognizer(tiny_checkpoint, PredictorConfig(backend="torch"))(crops)
    onnx = load_recognizer(tiny_checkpoint, PredictorConfig(backend="onnx"))
    assert onnx.info["backend"] == "onnx"
    by_onnx = onnx(crops)
    assert [r.latex for r in by_onnx] == [r.latex for r in by_torch]
    for a, b in zip(by_onnx, by_torch, strict=True):
        assert a.confidence == pytest.approx(b.confidence, abs=1e-4)


def test_export_is_cached_per_checkpoint(tiny_checkpoint: Path, tmp_path: Path) -> None:
    first, info = exported_graph(tiny_checkpoint, cache_dir=tmp_path)
    assert first.parent == tmp_path and first.is_file()
    assert info.sha256 == load_checkpoint(tiny_checkpoint).sha256
    assert info.vocab == load_checkpoint(tiny_checkpoint).vocab
    exported_at = first.stat().st_mtime_ns
    again, _ = exported_graph(tiny_checkpoint, cache_dir=tmp_path)
    assert again == first
    assert again.stat().st_mtime_ns == exported_at  # reused, not exported again
    checkpoint = load_checkpoint(tiny_checkpoint)
    with torch.no_grad():
        checkpoint.model.classifier.bias.add_(1.0)
    other = save_checkpoint(tmp_path / "other.pt", checkpoint.model, checkpoint.vocab)
    assert exported_graph(other, cache_dir=tmp_path)[0] != first
    assert sorted(p.name for p in tmp_path.glob("*.tmp")) == []


def test_a_stale_side_file_is_exported_again(tiny_checkpoint: Path, tmp_path: Path) -> None:
    graph, info = exported_graph(tiny_checkpoint, cache_dir=tmp_path)
    side = graph.with_suffix(".json")
    side.write_text(json.dumps({**json.loads(side.read_text()), "sha256": "0" * 64}))
    again, info_again = exported_graph(tiny_checkpoint, cache_dir=tmp_path)
    assert again == graph and info_again.sha256 == info.sha256


def test_unwritable_cache_falls_back_to_a_temporary_folder(tiny_checkpoint: Path, tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    graph, _ = exported_graph(tiny_checkpoint, cache_dir=blocker / "c")
    assert graph.is_file()
    assert blocker not in graph.parents


def test_bad_checkpoint_reports_the_file_through_the_export(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*garbage.pt"):
        exported_graph(garbage, cache_dir=tmp_path / "cache")
    with pytest.raises(CheckpointError, match="not found.*missing.pt"):
        load_recognizer(tmp_path / "missing.pt", PredictorConfig(backend="onnx"))


def test_onnx_recognition_never_imports_torch(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """The ONNX path stays ~500 MB lighter only if nothing on it imports torch."""
    script = f"""
import sys
import numpy as np
from ocr_model import PredictorConfig, load_recognizer
recognizer = load_recognizer({str(tiny_checkpoint)!r}, PredictorConfig(backend="onnx"))
results = recognizer([np.full((40, 90), 255, np.uint8)])
print(len(results), recognizer.info["version"], "torch" in sys.modules)
"""
    env = {"FORMULA_OCR_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    count, version, torch_imported = done.stdout.split()
    assert (count, version) == ("1", load_checkpoint(tiny_checkpoint).sha256)
    assert torch_imported == "False"


def test_in_memory_weights_need_the_torch_backend(tiny_checkpoint: Path) -> None:
    checkpoint = load_checkpoint(tiny_checkpoint)
    checkpoint.path = Path("in-memory")
    with pytest.raises(CheckpointError, match="not found"):
        Recognizer(checkpoint, PredictorConfig(backend="onnx"))
    assert Recognizer(checkpoint, PredictorConfig(backend="torch")).checkpoint.sha256


def test_default_cache_is_outside_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORMULA_OCR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/someone")
    assert default_cache_dir() == Path("/var/cache/someone/formula-ocr")
