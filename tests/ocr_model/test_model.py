"""The network: shapes, lengths, and padding that never changes a sample's output."""

from __future__ import annotations

from pathlib import Path

import torch

from ocr_model.checkpoint import load_checkpoint


def test_output_shape_and_lengths_follow_the_width(tiny_checkpoint: Path) -> None:
    model = load_checkpoint(tiny_checkpoint).model
    config = model.config
    images = torch.rand(3, 1, config.height, 40 * config.width_stride)
    widths = torch.tensor([40, 25, 1]) * config.width_stride
    with torch.inference_mode():
        log_probs, lengths = model(images, widths)
    assert lengths.tolist() == [40 * config.feature_rows, 25 * config.feature_rows,
                                config.feature_rows]  # fmt: skip
    assert log_probs.shape == (3, 40 * config.feature_rows, config.num_classes)
    assert torch.allclose(log_probs.exp().sum(dim=2), torch.ones(3, log_probs.shape[1]))


def test_padding_never_changes_a_samples_log_probs(trained_like_checkpoint: Path) -> None:
    model = load_checkpoint(trained_like_checkpoint).model
    height, stride = model.config.height, model.config.width_stride
    narrow = torch.rand(1, 1, height, 6 * stride)
    padded = torch.zeros(2, 1, height, 30 * stride)
    padded[0, :, :, : 6 * stride] = narrow
    padded[1] = torch.rand(1, height, 30 * stride)
    with torch.inference_mode():
        alone, (length,) = model(narrow, torch.tensor([6 * stride]))
        batched, lengths = model(padded, torch.tensor([6 * stride, 30 * stride]))
    assert lengths[0] == length
    torch.testing.assert_close(batched[0, :length], alone[0], atol=1e-5, rtol=0)
