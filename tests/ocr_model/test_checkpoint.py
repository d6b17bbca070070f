"""Checkpoints: save -> load gives the same network; damaged or foreign files fail clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ocr_model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ocr_model.model import FormulaRecognizer
from ocr_model.vocab import Vocabulary


def network_output(model: FormulaRecognizer) -> np.ndarray:
    images = torch.rand(2, 1, model.config.height, 48, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        log_probs, _ = model.eval()(images, torch.tensor([48, 24]))
    return log_probs.numpy()


def test_save_then_load_gives_identical_outputs(tiny_checkpoint: Path, tmp_path: Path) -> None:
    original = load_checkpoint(tiny_checkpoint)
    copy = save_checkpoint(
        tmp_path / "copy.pt", original.model, original.vocab, metadata={"name": "copy"},
        metrics={"hand_val": {"exprate": 0.5}},
    )  # fmt: skip
    loaded = load_checkpoint(copy)
    np.testing.assert_array_equal(network_output(loaded.model), network_output(original.model))
    assert loaded.vocab == original.vocab
    assert loaded.model.config == original.model.config
    assert loaded.metadata == {"name": "copy"}
    assert loaded.metrics == {"hand_val": {"exprate": 0.5}}
    assert loaded.training_state is None


def test_fp16_checkpoint_loads_as_fp32_with_close_outputs(tiny_checkpoint: Path, tmp_path):
    original = load_checkpoint(tiny_checkpoint)
    half = load_checkpoint(
        save_checkpoint(tmp_path / "half.pt", original.model, original.vocab, half=True)
    )
    assert all(p.dtype == torch.float32 for p in half.model.parameters())
    np.testing.assert_allclose(
        network_output(half.model), network_output(original.model), atol=0.05
    )


def test_sha256_changes_with_the_weights(tiny_checkpoint: Path, tmp_path: Path) -> None:
    original = load_checkpoint(tiny_checkpoint)
    with torch.no_grad():
        original.model.classifier.bias.add_(1.0)
    changed = save_checkpoint(tmp_path / "changed.pt", original.model, original.vocab)
    assert load_checkpoint(changed).sha256 != load_checkpoint(tiny_checkpoint).sha256


def test_missing_checkpoint_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found.*missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_truncated_checkpoint_gives_clear_error(tiny_checkpoint: Path, tmp_path: Path) -> None:
    broken = tmp_path / "truncated.pt"
    broken.write_bytes(tiny_checkpoint.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*truncated.pt"):
        load_checkpoint(broken)


def test_garbage_file_gives_clear_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all" * 100)
    with pytest.raises(CheckpointError, match="garbage.pt"):
        load_checkpoint(garbage)


def test_foreign_torch_file_is_not_taken_for_a_checkpoint(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not a formula-ocr checkpoint"):
        load_checkpoint(foreign)


def test_vocabulary_size_mismatch_gives_clear_error(tiny_checkpoint: Path, tmp_path) -> None:
    original = load_checkpoint(tiny_checkpoint)
    bigger = Vocabulary((*original.vocab.tokens, r"\alpha"))
    path = save_checkpoint(tmp_path / "mismatch.pt", original.model, bigger)
    with pytest.raises(CheckpointError, match="classes, vocabulary"):
        load_checkpoint(path)


def test_weights_of_another_architecture_give_clear_error(tiny_checkpoint: Path, tmp_path):
    original = load_checkpoint(tiny_checkpoint)
    path = save_checkpoint(tmp_path / "other.pt", original.model, original.vocab)
    payload = torch.load(path, weights_only=True)
    payload["config"]["lstm_hidden"] = 32  # the weights no longer fit the described network
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="does not match this model code"):
        load_checkpoint(path)
