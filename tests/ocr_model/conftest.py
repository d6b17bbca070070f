"""Fixtures for the recognizer tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ocr_model.checkpoint import load_checkpoint, save_checkpoint


@pytest.fixture(autouse=True)
def one_thread_and_private_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """One intra-op thread, and exported ONNX graphs in a temporary folder.

    With two threads on a machine whose cores are busy, each parallel op waits for a descheduled
    thread: a tiny model took 80 s instead of 0.2 s. Tests also never write to the user's cache.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("FORMULA_OCR_TORCH_THREADS", "1")
    monkeypatch.setenv("FORMULA_OCR_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "onnx"))
    yield
    torch.set_num_threads(threads)


def formula_crop(text: str, height: int = 40) -> np.ndarray:
    """Dark text on white paper, as a page crop looks (uint8 gray)."""
    width = 20 + 18 * len(text)
    image = np.full((height, width), 255, np.uint8)
    cv2.putText(image, text, (8, height - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 0, 2)
    return image


@pytest.fixture
def crops() -> list[np.ndarray]:
    """Crops of mixed widths, deliberately not sorted, so a predictor must reorder and restore."""
    return [formula_crop(t) for t in ["x+1", "a", "(3)=y+2-b", "ab", "x^2+y^2=1", "7"]]


@pytest.fixture
def make_crop() -> Callable[[str], np.ndarray]:
    return formula_crop


@pytest.fixture(scope="session")
def trained_like_checkpoint(
    tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path
) -> Path:
    """The tiny checkpoint with batch-norm statistics and shifts like a trained model's.

    Fresh batch norm maps zero to zero, which hides any leak of padding into features; trained
    statistics do not.
    """
    checkpoint = load_checkpoint(tiny_checkpoint)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in checkpoint.model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(torch.rand(size, generator=generator) - 0.5)
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
                module.bias.copy_(torch.rand(size, generator=generator) - 0.5)
    path = tmp_path_factory.mktemp("trained_like") / "trained_like.pt"
    return save_checkpoint(path, checkpoint.model, checkpoint.vocab)
