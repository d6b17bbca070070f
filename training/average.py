"""Average the weights of checkpoints fine-tuned from one starting point (a "model soup").

Runs that start from the same weights and differ in data mix or seed stay in one basin of the
loss; the mean of their weights is often better than either run (Wortsman et al., 2022) and
costs nothing at inference. Batch-norm statistics are averaged too; integer buffers (batch
counts) come from the first checkpoint. Measure the result before shipping it.

    python -m training.average runs/a/best.pt runs/b/best.pt --out runs/soup.pt
"""

from __future__ import annotations

import argparse
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
