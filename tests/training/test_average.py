"""Weight averaging of checkpoints that share a network and a vocabulary."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ocr_model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ocr_model.vocab import Vocabulary
from training.average import main


def test_average_is_the_mean_of_the_weights(tiny_checkpoint: Path, tmp_path: Path) -> None:
    shifted = load_checkpoint(tiny_checkpoint)
    with torch.no_grad():
        shifted.model.classifier.bias.add_(2.0)
    other = save_checkpoint(tmp_path / "other.pt", shifted.model, shifted.vocab)

    out = main([str(tiny_checkpoint), str(other), "--out", str(tmp_path / "soup.pt")])
    soup = load_checkpoint(out)

    original = load_checkpoint(tiny_checkpoint).model.state_dict()
    for name, value in soup.model.state_dict().items():
        expected = original[name] + 1.0 if name == "classifier.bias" else original[name]
        torch.testing.assert_close(value, expected)
    assert soup.metadata["averaged_from"] == [str(tiny_checkpoint), str(other)]


def test_checkpoints_with_other_vocabularies_are_refused(tiny_checkpoint: Path, tmp_path) -> None:
    loaded = load_checkpoint(tiny_checkpoint)
    renamed = Vocabulary(tuple(t + "x" if len(t) == 1 else t for t in loaded.vocab.tokens))
    other = save_checkpoint(tmp_path / "other.pt", loaded.model, renamed)
    with pytest.raises(CheckpointError, match="differ"):
        main([str(tiny_checkpoint), str(other), "--out", str(tmp_path / "s.pt")])
