"""The recognizer network: a small CRNN that reads 2-D formula layouts with a 1-D CTC head.

Design follows ``shared/reference.md`` (ResNet features, 2-D sinusoidal positional encoding,
squeeze-excitation, the feature map flattened over height x width into one sequence, BiLSTM,
CTC with blank 0) at a fraction of its cost: a grayscale input of fixed height and variable
width instead of 600x600 RGB with a rotated copy, and 4 rows of features instead of 19x19.

Padding never changes a sample's output: padding columns are zeroed before every convolution
(exactly what a crop alone gets from zero padding; without it, batch norm turns padding into
non-zero features that leak into the last columns, which changed 19 of 68 hand/val outputs), the
squeeze-excitation pool is masked, the feature map is flattened column by column so that padding
columns form the tail of each sequence, and the backward LSTM reads every sequence reversed *within
its own length*. So a crop gives the same output alone and inside a batch, and the graph stays
exportable to ONNX.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ocr_model.config import RecognizerConfig


def _stage(in_ch: int, out_ch: int, blocks: int, stride: tuple[int, int]) -> nn.Sequential:
    downsample = nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
    )
    layers = [MaskedBasicBlock(in_ch, out_ch, stride=stride, downsample=downsample)]
    layers += [MaskedBasicBlock(out_ch, out_ch) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def zero_padding(x: torch.Tensor, widths: torch.Tensor, input_width: int) -> torch.Tensor:
    """Zero the columns of ``x`` (B x C x H x W) that lie beyond each sample's width.

    Args:
        widths: each sample's unpadded width in input pixels.
        input_width: the padded input width, so ``W / input_width`` is this level's scale.
    """
    columns = x.shape[3]
    valid = torch.div(widths * columns + input_width - 1, input_width, rounding_mode="floor")
    keep = torch.arange(columns, device=x.device)[None, :] < valid[:, None]  # B x W
    return x * keep[:, None, None, :].to(x.dtype)


class MaskedBasicBlock(nn.Module):
    """A ResNet basic block that sees zeros in padding columns.

    Same layout and parameter names as torchvision's ``BasicBlock``, written out because
    importing torchvision adds 170 MB to every worker's resident memory.
    """

    def __init__(
        self, in_ch: int, out_ch: int, stride: int | tuple[int, int] = 1,
        downsample: nn.Module | None = None,
    ):  # fmt: skip
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample = downsample

    def forward(self, x: torch.Tensor, widths: torch.Tensor, input_width: int) -> torch.Tensor:
        # x arrives with zero padding columns; conv1 and downsample can read it as it is.
        identity = x if self.downsample is None else self.downsample(x)
        out = zero_padding(self.relu(self.bn1(self.conv1(x))), widths, input_width)
        out = self.relu(self.bn2(self.conv2(out)) + identity)
        return zero_padding(out, widths, input_width)


def sinusoidal_encoding_2d(channels: int, rows: int, columns: int) -> torch.Tensor:
    """Fixed 2-D positional encoding: half the channels encode the row, half the column.

    Returns:
        ``channels x rows x columns``.
    """
    quarter = channels // 4
    freq = torch.exp(torch.arange(quarter) * (-math.log(10000.0) / quarter))
    rows_t = torch.arange(rows).float()[:, None] * freq  # rows x quarter
    cols_t = torch.arange(columns).float()[:, None] * freq  # columns x quarter
    enc = torch.zeros(channels, rows, columns)
    enc[0:quarter] = torch.sin(rows_t).T[:, :, None]
    enc[quarter : 2 * quarter] = torch.cos(rows_t).T[:, :, None]
    enc[2 * quarter : 3 * quarter] = torch.sin(cols_t).T[:, None, :]
    enc[3 * quarter : 4 * quarter] = torch.cos(cols_t).T[:, None, :]
    return enc


class MaskedSqueezeExcitation(nn.Module):
    """Channel gating from the mean over valid (non-padding) columns only."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        self.gate = nn.Sequential(
            nn.Linear(channels, channels // reduction),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor, column_mask: torch.Tensor) -> torch.Tensor:
        # x: B x C x H x W; column_mask: B x W (1 for valid columns)
        mask = column_mask[:, None, None, :].to(x.dtype)
        pooled = (x * mask).sum(dim=(2, 3)) / (mask.sum(dim=(2, 3)) * x.shape[2])  # B x C
        return x * self.gate(pooled)[:, :, None, None]


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of ``x`` (B x T x C) over its first ``lengths[b]`` steps.

    Steps past a sequence's length stay in place, so padding remains at the tail.
    """
    steps = torch.arange(x.shape[1], device=x.device)[None, :]  # 1 x T
    flipped = lengths[:, None] - 1 - steps  # B x T
    index = torch.where(flipped >= 0, flipped, steps)
    return torch.gather(x, 1, index[:, :, None].expand(-1, -1, x.shape[2]))


class LengthAwareBiLSTM(nn.Module):
    """A bidirectional LSTM whose outputs at valid steps never depend on padding."""

    def __init__(self, input_size: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        sizes = [input_size] + [2 * hidden] * (layers - 1)
        self.forward_lstms = nn.ModuleList(nn.LSTM(s, hidden, batch_first=True) for s in sizes)
        self.backward_lstms = nn.ModuleList(nn.LSTM(s, hidden, batch_first=True) for s in sizes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # x: B x T x C -> B x T x 2*hidden
        for i, (fwd, bwd) in enumerate(zip(self.forward_lstms, self.backward_lstms, strict=True)):
            if i:
                x = self.dropout(x)
            ahead, _ = fwd(x)
            behind, _ = bwd(reverse_within_length(x, lengths))
            x = torch.cat([ahead, reverse_within_length(behind, lengths)], dim=2)
        return x


class FormulaRecognizer(nn.Module):
    """Grayscale formula image -> per-step log-probabilities over the vocabulary.

    Input: ``B x 1 x height x W`` with ink near 1 and background 0, ``W`` a multiple of
    ``config.width_stride``, plus each sample's unpadded width in pixels.
    Output: ``B x T x num_classes`` log-probabilities and each sample's valid length ``T_b``.
    """

    def __init__(self, config: RecognizerConfig):
        super().__init__()
        self.config = config
        c = config.channels
        self.stem = nn.Sequential(  # H/2 x W/2
            nn.Conv2d(1, c[0], 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c[0]),
            nn.ReLU(inplace=True),
        )
        strides = [(2, 2), (2, 2), (2, 1)]  # -> H/16 x W/8 in all
        self.stages = nn.Sequential(
            *(
                _stage(c[i], c[i + 1], n, s)
                for i, (n, s) in enumerate(zip(config.blocks_per_stage, strides, strict=True))
            )
        )
        features = c[-1]
        self.register_buffer(
            "position",
            sinusoidal_encoding_2d(features, config.feature_rows, config.max_columns),
            persistent=False,
        )
        self.excitation = MaskedSqueezeExcitation(features, config.se_reduction)
        self.dropout = nn.Dropout(config.dropout)
        self.norm = nn.BatchNorm2d(features)
        self.sequence = LengthAwareBiLSTM(
            features, config.lstm_hidden, config.lstm_layers, config.dropout
        )
        self.classifier = nn.Linear(2 * config.lstm_hidden, config.num_classes)

    def output_lengths(self, widths: torch.Tensor) -> torch.Tensor:
        """Valid sequence length for inputs of ``widths`` pixels."""
        columns = torch.div(
            widths + self.config.width_stride - 1, self.config.width_stride, rounding_mode="floor"
        )
        return columns * self.config.feature_rows

    def features(self, images: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
        """The CNN: ``B x 1 x H x W`` -> ``B x C x H/16 x W/8``, zero in padding columns."""
        input_width = images.shape[3]
        x = self.stem(zero_padding(images, widths, input_width))  # B x C x H/2 x W/2
        x = zero_padding(x, widths, input_width)
        for stage in self.stages:
            for block in stage:
                x = block(x, widths, input_width)
        return x

    def forward(
        self, images: torch.Tensor, widths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.features(images, widths)  # B x C x H/16 x W/8
        _, _, rows, columns = x.shape
        x = x + self.position[:, :rows, :columns]
        lengths = self.output_lengths(widths)
        valid_columns = torch.div(lengths, rows, rounding_mode="floor")
        column_mask = torch.arange(columns, device=x.device)[None, :] < valid_columns[:, None]
        x = self.norm(self.dropout(self.excitation(x, column_mask)))
        # Column-major flattening: a column top to bottom, then the next column to the right,
        # so LaTeX's left-to-right order (numerator before denominator) follows the sequence
        # and padding columns end up at the tail.
        x = x.permute(0, 3, 2, 1).flatten(1, 2)  # B x C x H x W -> B x (W*H) x C
        x = self.sequence(x, lengths)  # B x T x 2*hidden
        return self.classifier(x).log_softmax(dim=2), lengths
