"""Fitting the formula language model from training labels on disk."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ocr_model.language_model import END, TokenLanguageModel
from training.fit_language_model import main, parse_args


def test_fits_captions_and_latex_ocr_labels_and_reports_bad_rows(
    latex_ocr_folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    captions = tmp_path / "captions.txt"
    captions.write_text("a\t\\sin x\nb\t\\sin x + 1\n")
    out = tmp_path / "lm" / "language.json.gz"
    args = ["--out", str(out), "--captions", str(captions), "--latex-ocr", str(latex_ocr_folder),
            "--order", "3"]  # fmt: skip
    with caplog.at_level("WARNING"):
        fitted = main(parse_args(args))
    assert "missing.png" in caplog.text and "formula line 99" in caplog.text
    loaded = TokenLanguageModel.load(out)
    assert loaded.order == 3
    assert loaded.log_prob(("\\sin",), "x") == pytest.approx(fitted.log_prob(("\\sin",), "x"))
    assert math.exp(loaded.log_prob(("\\sin",), "x")) > 0.5  # both captions say so
    assert loaded.log_prob(("+", "1"), END) > loaded.log_prob(("+", "1"), "x")


def test_nothing_to_fit_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no formulas"):
        main(parse_args(["--out", str(tmp_path / "lm.json.gz")]))
