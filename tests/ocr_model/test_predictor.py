"""Predictor contract with a random-weight model: order, batching invariance, input kinds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ocr_model.checkpoint import load_checkpoint, save_checkpoint
from ocr_model.model import FormulaRecognizer
from ocr_model.predictor import PredictorConfig, Recognition, Recognizer, load_recognizer
from ocr_model.vocab import Vocabulary


def test_results_come_back_in_input_order(tiny_checkpoint: Path, crops: list) -> None:
    recognizer = load_recognizer(tiny_checkpoint, PredictorConfig(max_batch_size=4))
    alone = [recognizer([crop])[0] for crop in crops]
    together = recognizer(crops)
    assert [r.latex for r in together] == [r.latex for r in alone]
    # the model is random but not constant: order would show if it were lost
    assert len({r.latex for r in alone}) > 1


def test_crop_gives_same_output_alone_and_inside_a_batch(trained_like_checkpoint, crops) -> None:
    recognizer = load_recognizer(trained_like_checkpoint, PredictorConfig(max_batch_size=16))
    narrow = crops[1]  # padded heavily when batched with the widest crop
    alone = recognizer([narrow])[0]
    batched = recognizer([*crops, narrow])[-1]
    assert batched.latex == alone.latex
    assert batched.confidence == pytest.approx(alone.confidence, abs=1e-4)


def test_batch_limits_split_batches_without_changing_results(tiny_checkpoint: Path, crops):
    one_batch = load_recognizer(tiny_checkpoint, PredictorConfig(max_batch_size=64))
    tiny_batches = load_recognizer(
        tiny_checkpoint, PredictorConfig(max_batch_size=2, max_batch_pixels=2 * 64 * 64)
    )
    assert len(tiny_batches._batches([tiny_batches.prepare(c) for c in crops])) >= 3
    assert [r.latex for r in one_batch(crops)] == [r.latex for r in tiny_batches(crops)]


def test_empty_input_gives_empty_list(tiny_checkpoint: Path) -> None:
    assert load_recognizer(tiny_checkpoint)([]) == []


def test_results_are_recognitions_within_vocabulary(tiny_checkpoint: Path, crops) -> None:
    recognizer = load_recognizer(tiny_checkpoint, PredictorConfig(decoder="beam", beam_width=4))
    tokens = set(recognizer.vocab.tokens)
    for result in recognizer(crops):
        assert isinstance(result, Recognition)
        assert 0.0 <= result.confidence <= 1.0
        assert set(result.latex.split()) <= tokens


def test_a_prime_in_the_vocabulary_comes_out_canonical(
    tiny_checkpoint: Path, tmp_path: Path, make_crop
) -> None:
    """Shipped vocabularies hold ``'``, which canonical labels now write ``^ { \\prime }``."""
    vocab = Vocabulary(("'", "\\prime", "^", "x", "{", "}"))
    tiny = load_checkpoint(tiny_checkpoint).config
    model = FormulaRecognizer(replace(tiny, num_classes=len(vocab))).eval()
    with torch.no_grad():  # every frame reads "'"
        model.classifier.weight.zero_()
        model.classifier.bias.fill_(-10.0)
        model.classifier.bias[1] = 10.0
    checkpoint = save_checkpoint(tmp_path / "prime.pt", model, vocab, metadata={"name": "prime"})
    for decoder in ("greedy", "beam"):
        recognizer = load_recognizer(checkpoint, PredictorConfig(decoder=decoder))
        assert recognizer([make_crop("x")])[0].latex == r"^ { \prime }"


def test_rgba_crop_with_transparent_background_reads_like_gray(tiny_checkpoint, make_crop) -> None:
    gray = make_crop("x+1")
    # What the hand set ships: black ink whose alpha carries the strokes, RGB all black.
    rgba = np.zeros((*gray.shape, 4), np.uint8)
    rgba[:, :, 3] = 255 - gray
    recognizer = load_recognizer(tiny_checkpoint)
    np.testing.assert_allclose(recognizer.prepare(rgba), recognizer.prepare(gray), atol=0.02)
    assert recognizer([rgba])[0].latex == recognizer([gray])[0].latex


def test_rgb_and_inverted_crops_are_accepted(tiny_checkpoint: Path, make_crop) -> None:
    gray = make_crop("y=2")
    recognizer = load_recognizer(tiny_checkpoint)
    rgb = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    negative = 255 - gray  # light ink on a dark board
    expected = recognizer([gray])[0].latex
    assert [r.latex for r in recognizer([rgb, negative])] == [expected, expected]


def test_blank_crop_gives_a_result_not_an_error(tiny_checkpoint: Path) -> None:
    result = load_recognizer(tiny_checkpoint)([np.full((30, 80), 255, np.uint8)])[0]
    assert 0.0 <= result.confidence <= 1.0


def test_unknown_backend_or_decoder_is_rejected(tiny_checkpoint: Path) -> None:
    checkpoint = load_checkpoint(tiny_checkpoint)
    with pytest.raises(ValueError, match="backend"):
        Recognizer(checkpoint, PredictorConfig(backend="tensorrt"))
    with pytest.raises(ValueError, match="decoder"):
        Recognizer(checkpoint, PredictorConfig(decoder="attention"))


def test_info_reports_checkpoint_sha256_as_version(tiny_checkpoint: Path) -> None:
    info = load_recognizer(tiny_checkpoint).info
    assert info["version"] == load_checkpoint(tiny_checkpoint).sha256
    assert len(info["version"]) == 64
    assert info["name"] == "tiny-random"
    assert info["backend"] == PredictorConfig.backend
