"""Average weights: of checkpoints fine-tuned from one starting point (a "model soup"), and
of one run's recent steps (an exponential moving average, kept while training).

Runs that start from the same weights and differ in data mix or seed stay in one basin of the
loss; the mean of their weights is often better than either run (Wortsman et al., 2022) and
costs nothing at inference. Batch-norm statistics are averaged too; integer buffers (batch
counts) come from the first checkpoint. Measure the result before shipping it.

    python -m training.average runs/a/best.pt runs/b/best.pt --out runs/soup.pt
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch

from ocr_model.checkpoint import CheckpointError, LoadedCheckpoint, load_checkpoint, save_checkpoint


def average(checkpoints: list[LoadedCheckpoint]) -> LoadedCheckpoint:
    """The first checkpoint with its floating weights replaced by the mean over all of them.

    Raises:
        CheckpointError: the checkpoints differ in network config or vocabulary.
    """
    first = checkpoints[0]
    for other in checkpoints[1:]:
        if other.config != first.config or other.vocab != first.vocab:
            raise CheckpointError(f"{other.path} and {first.path} differ in network or vocabulary")
    states = [c.model.state_dict() for c in checkpoints]
    mean = {
        name: torch.stack([s[name] for s in states]).mean(0) if value.is_floating_point() else value
        for name, value in states[0].items()
    }
    first.model.load_state_dict(mean)
    return first


class MovingAverage:
    """An exponential moving average of a training model's weights and batch-norm statistics.

    The average of the last ~1/(1-decay) steps sits nearer the middle of the loss valley than
    the noisy last step, so it usually reads better at the same training cost (Polyak
    averaging); training selects between it and the live weights on validation.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"moving-average decay {decay}: use a value between 0 and 1")
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Move the average towards ``model``; integer buffers (batch counts) are copied."""
        averaged, live = self.model.state_dict(), model.state_dict()
        floating = [name for name, value in averaged.items() if value.is_floating_point()]
        torch._foreach_lerp_(
            [averaged[name] for name in floating], [live[name] for name in floating], 1 - self.decay
        )
        for name, value in averaged.items():
            if not value.is_floating_point():
                value.copy_(live[name])


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--half", action="store_true", help="store fp16 weights (to ship)")
    args = parser.parse_args(argv)
    soup = average([load_checkpoint(path) for path in args.checkpoints])
    metadata = {**soup.metadata, "averaged_from": [str(p) for p in args.checkpoints]}
    return save_checkpoint(args.out, soup.model, soup.vocab, metadata, half=args.half)


if __name__ == "__main__":
    main()
