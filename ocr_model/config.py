"""The network's hyper-parameters, apart from the network so that reading them needs no torch.

An ONNX-only worker reads this config from the export's side file and never imports torch
(about 500 MB of resident memory for the CUDA build of PyTorch).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class RecognizerConfig:
    """Network hyper-parameters; saved inside every checkpoint."""

    num_classes: int  # vocabulary size, CTC blank (id 0) included
    height: int = 64  # input height in pixels; width is free (a multiple of width_stride)
    channels: tuple[int, ...] = (32, 64, 128, 192)  # stem, then one residual stage each
    blocks_per_stage: tuple[int, ...] = (1, 1, 2)  # BasicBlocks in the three stages
    se_reduction: int = 16  # squeeze-excitation bottleneck, as in the reference
    lstm_hidden: int = 128  # per direction
    lstm_layers: int = 2
    dropout: float = 0.2
    max_columns: int = 1024  # longest feature map the positional encoding covers (8192 px)

    @property
    def width_stride(self) -> int:
        """Input pixels per feature column; input widths are padded to a multiple of it."""
        return 8

    @property
    def feature_rows(self) -> int:
        return self.height // 16

    def to_dict(self) -> dict:
        data = asdict(self)
        data["channels"] = list(self.channels)
        data["blocks_per_stage"] = list(self.blocks_per_stage)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> RecognizerConfig:
        data = dict(data)
        data["channels"] = tuple(data["channels"])
        data["blocks_per_stage"] = tuple(data["blocks_per_stage"])
        return cls(**data)
