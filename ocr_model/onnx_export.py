"""Export a checkpoint's network to ONNX with a JSON side file that describes it (needs torch).

``ocr_model.onnx_backend`` runs this as a separate program, so that a process that recognizes
with ONNX Runtime never imports torch:

    python -m ocr_model.onnx_export CHECKPOINT GRAPH.onnx

writes ``GRAPH.onnx`` and then ``GRAPH.json`` (config, vocabulary, sha256, metadata, metrics),
each to a temporary name first, so a reader that finds the side file finds a complete graph.
Exit status 2 with the reason on stderr when the checkpoint cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import torch

from ocr_model.checkpoint import CheckpointError, LoadedCheckpoint, load_checkpoint
from ocr_model.files import atomic_write
from ocr_model.onnx_backend import INPUTS, OPSET, OUTPUTS, side_file


def export_onnx(checkpoint: LoadedCheckpoint, path: Path) -> Path:
    """Export the checkpoint's network to ``path`` with dynamic batch and width axes."""
    model = checkpoint.model.eval()
    stride = model.config.width_stride
    # Two samples of different widths, so that nothing batch- or width-specific is traced in.
    images = torch.zeros(2, 1, model.config.height, 8 * stride)
    widths = torch.tensor([8 * stride, 4 * stride])
    # The tracer warns about shape checks inside nn.LSTM and about the legacy exporter; both
    # are harmless here (shapes come from the inputs) and would only alarm users.
    with atomic_write(path) as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (images, widths),
            str(tmp),
            dynamo=False,  # the dynamo exporter needs onnxscript, which we do not ship
            input_names=list(INPUTS),
            output_names=list(OUTPUTS),
            opset_version=OPSET,
            dynamic_axes={
                "images": {0: "batch", 3: "width"},
                "widths": {0: "batch"},
                "log_probs": {0: "batch", 1: "steps"},
                "lengths": {0: "batch"},
            },
        )
    with atomic_write(side_file(path)) as tmp:
        tmp.write_text(json.dumps(checkpoint.to_dict(), default=str))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("graph", type=Path, help="where the .onnx file goes (.json beside it)")
    args = parser.parse_args(argv)
    try:
        export_onnx(load_checkpoint(args.checkpoint), args.graph)
    except CheckpointError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
