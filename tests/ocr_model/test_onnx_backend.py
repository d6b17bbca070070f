"""The ONNX Runtime backend computes what the PyTorch network computes, from a cached export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ocr_model.checkpoint import load_checkpoint, save_checkpoint
from ocr_model.onnx_backend import OnnxBackend, default_cache_dir
from ocr_model.predictor import PredictorConfig, TorchBackend, load_recognizer


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
    onnx_log_probs, onnx_lengths = OnnxBackend(checkpoint, num_threads=1)(images, lengths_in)
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
    checkpoint = load_checkpoint(tiny_checkpoint)
    first = OnnxBackend(checkpoint, num_threads=1, cache_dir=tmp_path)
    assert first.path.parent == tmp_path and first.path.is_file()
    exported_at = first.path.stat().st_mtime_ns
    again = OnnxBackend(checkpoint, num_threads=1, cache_dir=tmp_path)
    assert again.path == first.path
    assert again.path.stat().st_mtime_ns == exported_at  # reused, not exported again
    with torch.no_grad():
        checkpoint.model.classifier.bias.add_(1.0)
    other = load_checkpoint(
        save_checkpoint(tmp_path / "other.pt", checkpoint.model, checkpoint.vocab)
    )
    assert OnnxBackend(other, num_threads=1, cache_dir=tmp_path).path != first.path
    assert sorted(p.name for p in tmp_path.glob("*.tmp")) == []


def test_unwritable_cache_falls_back_to_a_temporary_folder(tiny_checkpoint: Path, tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    backend = OnnxBackend(load_checkpoint(tiny_checkpoint), num_threads=1, cache_dir=blocker / "c")
    assert backend.path.is_file()
    assert blocker not in backend.path.parents


def test_default_cache_is_outside_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORMULA_OCR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/someone")
    assert default_cache_dir() == Path("/var/cache/someone/formula-ocr")
