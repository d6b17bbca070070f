from pathlib import Path

import numpy as np
import pytest

from ocr_model.vocab import Vocabulary
from training.datasets import (
    keep_encodable,
    load_image,
    paper_image,
    read_captions,
    read_ink,
    read_ink_folder,
    read_labels_tsv,
    read_latex_ocr,
    save_ink_pack,
)
from training.ink import render_strokes


def test_latex_ocr_reader_reports_bad_rows_with_file_and_line(latex_ocr_folder: Path):
    result = read_latex_ocr(latex_ocr_folder, "train")
    assert [s.label for s in result.samples] == [
        "x ^ { 2 }",
        r"\frac { a } { b }",
        "a + b",
        "( 3 )",
    ]
    assert len(result.problems) == 2
    assert "train.matching.txt:5" in result.problems[0] and "missing.png" in result.problems[0]
    assert "train.matching.txt:6" in result.problems[1] and "99" in result.problems[1]


def test_latex_ocr_reader_names_missing_layout(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="Data-for-LaTeX_OCR"):
        read_latex_ocr(tmp_path, "train")


def test_labels_tsv_reader_canonicalizes_user_latex(latex_ocr_folder: Path):
    folder = latex_ocr_folder / "images" / "images_train"
    (folder / "labels.tsv").write_text("0.png\t\\frac12\n1.png\nnothere.png\tx\n")
    result = read_labels_tsv(folder)
    assert [s.label for s in result.samples] == [r"\frac { 1 } { 2 }"]
    assert len(result.problems) == 2
    assert "labels.tsv:2" in result.problems[0]
    assert "labels.tsv:3" in result.problems[1]


def test_ink_reader_uses_truth_and_reports_broken_files(inkml_folder: Path):
    result = read_ink_folder(inkml_folder)
    assert sorted(s.label for s in result.samples) == [r"\frac { a } { b }", "x ^ { 2 }"]
    assert len(result.problems) == 1 and "broken.inkml" in result.problems[0]


def test_ink_reader_prefers_captions_and_reports_uncaptioned(inkml_folder: Path, tmp_path: Path):
    captions = tmp_path / "captions.txt"
    captions.write_text("a\ty _ { 1 }\n")
    result = read_ink_folder(inkml_folder, read_captions(captions))
    assert [s.label for s in result.samples] == ["y _ { 1 }"]
    assert any("no caption for id b" in p for p in result.problems)


def test_keep_encodable_reports_unknown_tokens(inkml_folder: Path):
    vocab = Vocabulary.build(["x ^ { 2 }"])
    kept = keep_encodable(read_ink_folder(inkml_folder), vocab, "test")
    assert [s.label for s in kept.samples] == ["x ^ { 2 }"]
    assert any(r"\frac" in p for p in kept.problems)


def test_rendered_ink_is_dark_strokes_on_white(inkml_folder: Path):
    sample = read_ink_folder(inkml_folder).samples[0]
    image = render_strokes(sample.strokes, char_height=20, thickness=2)
    assert image.dtype == np.uint8
    assert image.max() == 255 and image.min() < 64
    assert (image < 128).mean() < 0.5  # mostly paper


def test_random_ink_rendering_is_deterministic_under_seed(inkml_folder: Path):
    sample = read_ink_folder(inkml_folder).samples[0]
    first = paper_image(sample, np.random.default_rng(3))
    again = paper_image(sample, np.random.default_rng(3))
    other = paper_image(sample, np.random.default_rng(4))
    assert np.array_equal(first, again)
    assert first.shape != other.shape or not np.array_equal(first, other)


def test_load_image_reports_undecodable_file(tmp_path: Path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot decode"):
        load_image(bad)


def test_ink_pack_renders_like_its_folder(inkml_folder: Path, tmp_path: Path):
    folder = read_ink_folder(inkml_folder)
    save_ink_pack(folder.samples, tmp_path / "ink.npz")
    packed = read_ink(tmp_path / "ink.npz")
    assert [(s.name, s.label) for s in packed.samples] == [
        (s.name, s.label) for s in folder.samples
    ]
    for original, restored in zip(folder.samples, packed.samples, strict=True):
        a, b = paper_image(original), paper_image(restored)
        assert abs(a.shape[0] - b.shape[0]) <= 1 and abs(a.shape[1] - b.shape[1]) <= 1
        height, width = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
        diff = np.abs(a[:height, :width].astype(int) - b[:height, :width].astype(int))
        assert diff.mean() < 10  # the same strokes, within a pixel of rounding


def test_ink_pack_refuses_captions_and_names_a_bad_file(inkml_folder: Path, tmp_path: Path):
    save_ink_pack(read_ink_folder(inkml_folder).samples, tmp_path / "ink.npz")
    with pytest.raises(ValueError, match="packed"):
        read_ink(tmp_path / "ink.npz", {"a": "x"})
    (tmp_path / "bad.npz").write_bytes(b"not a pack")
    with pytest.raises(ValueError, match="bad.npz"):
        read_ink(tmp_path / "bad.npz")
