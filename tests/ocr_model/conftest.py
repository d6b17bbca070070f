"""Fixtures for the recognizer tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import cv2
import numpy as np
import pytest
import torch


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
