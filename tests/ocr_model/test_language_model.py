"""The formula n-gram language model and its fusion into the beam search."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest

from ocr_model.decoding import beam_decode
from ocr_model.language_model import (
    DEFAULT_LANGUAGE_MODEL,
    END,
    Fusion,
    LanguageModelError,
    TokenLanguageModel,
)
from ocr_model.predictor import PredictorConfig, load_recognizer

FORMULAS = [s.split() for s in ["\\sin x", "\\sin x + 1", "\\cos x", "x + 1", "\\sin y"]]


@pytest.fixture
def model() -> TokenLanguageModel:
    return TokenLanguageModel.fit(FORMULAS, order=3)


@pytest.mark.parametrize("history", [(), ("\\sin",), ("x", "+"), ("never", "seen")])
def test_probabilities_sum_to_one_with_the_share_for_unseen_tokens(model, history) -> None:
    seen = ["\\sin", "\\cos", "x", "y", "+", "1", END]
    total = sum(math.exp(model.log_prob(history, token)) for token in seen)
    total += math.exp(model.log_prob(history, "unseen"))
    assert total == pytest.approx(1.0)


def test_context_decides(model) -> None:
    assert model.log_prob(("\\sin",), "x") > model.log_prob(("\\sin",), "+")
    assert model.log_prob(("x", "+"), "1") > model.log_prob(("x", "+"), "x")
    assert model.log_prob(("\\sin", "x"), END) > model.log_prob(("\\sin", "x"), "x")


def test_saved_file_loads_the_same_model_and_names_its_version(model, tmp_path: Path) -> None:
    path = tmp_path / "lm.json.gz"
    model.save(path)
    loaded = TokenLanguageModel.load(path)
    for history, token in [((), "x"), (("\\sin",), "x"), (("+",), END), (("q",), "unseen")]:
        assert loaded.log_prob(history, token) == pytest.approx(model.log_prob(history, token))
    assert len(loaded.sha256) == 64
    model.save(tmp_path / "again.json.gz")
    assert (tmp_path / "again.json.gz").read_bytes() == path.read_bytes()  # reproducible


def test_bad_files_are_refused_with_the_path(tmp_path: Path) -> None:
    with pytest.raises(LanguageModelError, match="not found"):
        TokenLanguageModel.load(tmp_path / "missing.json.gz")
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(b"not gzip")
    with pytest.raises(LanguageModelError, match="broken.json.gz"):
        TokenLanguageModel.load(broken)
    other = tmp_path / "other.json.gz"
    other.write_bytes(gzip.compress(b'{"format": "something else"}'))
    with pytest.raises(LanguageModelError, match="not a"):
        TokenLanguageModel.load(other)


def test_fusion_breaks_an_acoustic_tie_towards_the_likely_formula(model) -> None:
    tokens = ["", "\\sin", "x", "+"]
    # Frame 1 reads \sin; frame 2 is a shade likelier + than x: "\sin x" is what formulas
    # look like, and the language model says so.
    log_probs = np.log(np.array([[0.05, 0.9, 0.025, 0.025], [0.02, 0.01, 0.48, 0.49]]))
    assert beam_decode(log_probs, beam_width=8, tokens=tokens)[0] == [1, 3]
    fused, confidence = beam_decode(
        log_probs, beam_width=8, tokens=tokens, fusion=Fusion(model, weight=0.5)
    )
    assert fused == [1, 2]
    assert 0.0 < confidence <= 1.0
    # A clear acoustic reading is kept against the language model.
    clear = np.log(np.array([[0.05, 0.9, 0.025, 0.025], [0.02, 0.01, 0.02, 0.95]]))
    assert beam_decode(clear, 8, tokens=tokens, fusion=Fusion(model, weight=0.5))[0] == [1, 3]


def test_fusion_needs_the_tokens(model) -> None:
    with pytest.raises(ValueError, match="tokens"):
        beam_decode(np.zeros((2, 3)), fusion=Fusion(model))


def test_predictor_uses_the_shipped_model_by_default_and_records_it(tiny_checkpoint) -> None:
    recognizer = load_recognizer(tiny_checkpoint)
    assert recognizer.info["language_model"] == {
        "version": TokenLanguageModel.load(DEFAULT_LANGUAGE_MODEL).sha256,
        "weight": PredictorConfig.lm_weight,
        "length_bonus": PredictorConfig.length_bonus,
    }
    for config in (PredictorConfig(lm_weight=0), PredictorConfig(decoder="greedy")):
        assert load_recognizer(tiny_checkpoint, config).info["language_model"] is None


def test_predictor_refuses_a_missing_language_model(tiny_checkpoint, tmp_path: Path) -> None:
    config = PredictorConfig(language_model=tmp_path / "none.json.gz")
    with pytest.raises(LanguageModelError, match="none.json.gz"):
        load_recognizer(tiny_checkpoint, config)
