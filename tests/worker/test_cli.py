"""``formula-ocr convert`` and ``recognize`` end to end, in-process (``main(argv)``)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from worker.cli import main
from worker.schema import DocumentResult

# The tiny checkpoint, one thread (see conftest) and test-sized pages.
FAST = ["--dpi", "100", "--threads", "1", "--no-progress"]


def convert(tmp_path, checkpoint, *inputs, extra=()) -> tuple[int, dict[str, dict]]:
    out = tmp_path / "out"
    argv = ["convert", *map(str, inputs), "--out", str(out), "--checkpoint", str(checkpoint)]
    status = main([*argv, *FAST, *extra])
    results = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}
    return status, results


def test_convert_pdf_and_image_folder_writes_schema_json_and_exits_0(
    tmp_path, tiny_checkpoint, formula_pdf, image_folder, capsys
):
    status, results = convert(tmp_path, tiny_checkpoint, formula_pdf, image_folder)

    assert status == 0
    assert sorted(results) == ["a", "b", "c", "worksheet"]
    for data in results.values():
        assert data["status"] == "ok" and data["error"] is None
        assert DocumentResult.from_dict(data).to_dict() == data  # exactly the schema
        assert data["model"]["name"] == "tiny-random"
    assert len(results["worksheet"]["pages"]) == 2 and len(results["c"]["pages"]) == 2
    assert results["worksheet"]["pages"][0]["regions"]
    assert str((tmp_path / "out").resolve()) in capsys.readouterr().out


def test_overlay_writes_a_png_per_page_at_page_size(tmp_path, tiny_checkpoint, formula_pdf, capsys):
    status, results = convert(tmp_path, tiny_checkpoint, formula_pdf, extra=["--overlay"])

    overlays = sorted((tmp_path / "out" / "overlays").iterdir())
    assert status == 0
    assert [p.name for p in overlays] == ["worksheet.page-001.png", "worksheet.page-002.png"]
    image = cv2.imread(str(overlays[0]))
    page = results["worksheet"]["pages"][0]
    assert image.shape == (page["height"], page["width"], 3)
    assert "overlays" in capsys.readouterr().out


def test_bad_inputs_fail_clearly_while_good_ones_in_the_same_call_succeed(
    tmp_path, tiny_checkpoint, formula_pdf, bad_inputs, caplog
):
    paths = [path for path, _ in bad_inputs.values()]

    status, results = convert(tmp_path, tiny_checkpoint, formula_pdf, *paths)

    assert status != 0
    assert results["worksheet"]["status"] == "ok" and results["worksheet"]["pages"][0]["regions"]
    for path, words in bad_inputs.values():
        data = results[path.stem]
        assert data["status"] == "failed" and words in data["error"], data["error"]
        assert any(words in record.getMessage() for record in caplog.records)  # and in the log


def test_folder_with_an_unsupported_file_reports_it_and_converts_the_rest(
    tmp_path, tiny_checkpoint, image_folder
):
    (image_folder / "notes.txt").write_text("shopping list")
    (image_folder / ".DS_Store").write_bytes(b"\0")

    status, results = convert(tmp_path, tiny_checkpoint, image_folder)

    assert status == 1
    assert "unsupported file type '.txt'" in results["notes"]["error"]
    assert all(results[name]["status"] == "ok" for name in ("a", "b", "c"))
    assert "DS_Store" not in " ".join(results)  # hidden files are not documents


def test_subfolders_need_recursive(tmp_path, tiny_checkpoint, image_folder):
    nested = image_folder / "nested"
    nested.mkdir()
    (image_folder / "a.png").rename(nested / "a.png")

    _, flat = convert(tmp_path / "flat", tiny_checkpoint, image_folder)
    _, deep = convert(tmp_path / "deep", tiny_checkpoint, image_folder, extra=["--recursive"])

    assert sorted(flat) == ["b", "c"]
    assert sorted(deep) == ["b", "c", "nested__a"]


def test_same_file_name_in_two_folders_gets_two_outputs(
    tmp_path, tiny_checkpoint, make_pdf, formulas
):
    first = make_pdf(tmp_path / "one" / "exam.pdf", [formulas[:1]])
    second = make_pdf(tmp_path / "two" / "exam.pdf", [formulas[1:]])

    status, results = convert(tmp_path, tiny_checkpoint, first, second)

    assert status == 0
    assert results["exam"]["source"] == str(first) and results["exam-2"]["source"] == str(second)


def test_input_path_with_dotdot_writes_only_inside_out(tmp_path, tiny_checkpoint, make_pdf):
    make_pdf(tmp_path / "x.pdf", [["y = 1"]])
    outside = tmp_path / "work" / "deeper"
    outside.mkdir(parents=True)

    status, results = convert(outside, tiny_checkpoint, outside / ".." / ".." / "x.pdf")

    assert status == 0 and list(results) == ["x"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work", "x.pdf"]


def test_recognize_prints_path_latex_and_confidence(tmp_path, tiny_checkpoint, capsys):
    crop = tmp_path / "crop.png"
    image = np.full((60, 240), 255, np.uint8)
    cv2.putText(image, "x+1=2", (10, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 0, 2)
    cv2.imwrite(str(crop), image)

    status = main(["recognize", str(crop), "--checkpoint", str(tiny_checkpoint), "--threads", "1"])

    path, latex, confidence = capsys.readouterr().out.rstrip("\n").split("\t")
    assert status == 0 and path == str(crop)
    assert 0.0 <= float(confidence) <= 1.0 and isinstance(latex, str)


def test_recognize_reports_unreadable_images_and_exits_1(tmp_path, tiny_checkpoint, capsys):
    status = main(["recognize", str(tmp_path / "nope.png"), "--checkpoint", str(tiny_checkpoint)])

    assert status == 1 and "file not found" in capsys.readouterr().err


def test_missing_checkpoint_is_a_clear_usage_error(tmp_path, formula_pdf, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", str(formula_pdf), "--out", str(tmp_path), "--checkpoint", "nope.pt"])

    assert exit_info.value.code == 2 and "checkpoint not found" in capsys.readouterr().err


def test_language_model_is_recorded_and_can_be_turned_off(tmp_path, tiny_checkpoint, formula_pdf):
    _, with_lm = convert(tmp_path / "with", tiny_checkpoint, formula_pdf)
    _, without = convert(
        tmp_path / "without", tiny_checkpoint, formula_pdf, extra=["--lm-weight", "0"]
    )

    assert with_lm["worksheet"]["model"]["language_model"]["weight"] > 0
    assert without["worksheet"]["model"]["language_model"] is None


def test_help_lists_the_options_with_defaults(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", "--help"])

    text = capsys.readouterr().out
    assert exit_info.value.code == 0
    for option in (
        "--out",
        "--overlay",
        "--dpi",
        "--recursive",
        "--checkpoint",
        "--backend",
        "--lm-weight",
    ):
        assert option in text
    assert "(default: 200)" in text
