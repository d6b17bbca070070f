"""Fixtures shared by every test package: a tiny random recognizer checkpoint.

Random weights are enough for contract tests (shapes, order, ranges); tests that judge accuracy
live in benchmarks, not here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from ocr_model.checkpoint import save_checkpoint
from ocr_model.config import RecognizerConfig
from ocr_model.model import FormulaRecognizer
from ocr_model.vocab import Vocabulary

# Tests run recognizers in several processes at once (pytest, Celery workers): one torch thread
# each keeps them from stalling on OpenMP barriers while another process holds the core.
os.environ.setdefault("FORMULA_OCR_TORCH_THREADS", "1")

TINY_LABELS = [r"\frac { a } { b }", "x ^ { 2 } + y _ { 1 } = 0", r"\sqrt { x } - 1", "( 3 )"]


@pytest.fixture(scope="session")
def tiny_vocab() -> Vocabulary:
    return Vocabulary.build(TINY_LABELS)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_vocab: Vocabulary) -> Path:
    """A small randomly initialised checkpoint file (seeded, so outputs are repeatable)."""
    torch.manual_seed(0)
    config = RecognizerConfig(
        num_classes=len(tiny_vocab),
        channels=(8, 16, 16, 24),
        blocks_per_stage=(1, 1, 1),
        se_reduction=4,
        lstm_hidden=16,
    )
    model = FormulaRecognizer(config).eval()
    path = tmp_path_factory.mktemp("checkpoint") / "tiny.pt"
    return save_checkpoint(path, model, tiny_vocab, metadata={"name": "tiny-random"})
