"""The pipeline on real PDFs and images with the real detector and a tiny random recognizer."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pymupdf
import pytest

from segmentation.rasterize import InputLimits, load_images, rasterize_pdf
from worker.pipeline import (
    PipelineSettings,
    assemble_document,
    output_name,
    process_document,
    process_page,
    save_outputs,
)
from worker.schema import SCHEMA_VERSION, DocumentResult

TEST_DPI = 100  # as the ``settings`` fixture


def test_pdf_gives_regions_with_boxes_latex_and_confidence(
    formula_pdf, formulas, settings, recognizer, detector
):
    result = process_document(formula_pdf, settings, recognizer, detector)

    assert result.status == "ok" and result.error is None
    assert result.schema_version == SCHEMA_VERSION
    assert result.source == str(formula_pdf.resolve())
    assert result.model == recognizer.info
    assert [p.index for p in result.pages] == [0, 1]
    page = result.pages[0]
    # A6 (298 x 420 pt) at 100 dpi.
    assert (page.width, page.height) == (414, 584)
    assert len(page.regions) >= len(formulas)
    for region in page.regions:
        x0, y0, x1, y1 = region.bbox
        assert 0 <= x0 < x1 <= page.width and 0 <= y0 < y1 <= page.height
        assert 0.0 <= region.confidence <= 1.0
        assert region.low_confidence == (region.confidence < settings.low_confidence_threshold)
        assert isinstance(region.latex, str)
    assert {"rasterize", "detect", "recognize"} <= page.timings_ms.keys()
    assert result.timings_ms["total"] > 0


def test_blank_page_has_no_regions_and_no_error(formula_pdf, settings, recognizer, detector):
    blank = process_document(formula_pdf, settings, recognizer, detector).pages[1]

    assert blank.regions == [] and blank.error is None


def test_result_json_round_trips_through_the_schema(formula_pdf, settings, recognizer, detector):
    result = process_document(formula_pdf, settings, recognizer, detector)

    data = json.loads(json.dumps(result.to_dict()))
    assert DocumentResult.from_dict(data).to_dict() == result.to_dict()


def test_pages_processed_one_by_one_assemble_to_the_same_document(
    formula_pdf, settings, recognizer, detector, without_timings
):
    whole = process_document(formula_pdf, settings, recognizer, detector)
    pages = [process_page(formula_pdf, i, settings, recognizer, detector) for i in (1, 0)]

    assembled = assemble_document(formula_pdf, pages, settings, recognizer.info)

    assert without_timings(assembled.to_dict()) == without_timings(whole.to_dict())


def test_images_and_tiff_frames_are_pages(image_folder, settings, recognizer, detector):
    png = process_document(image_folder / "a.png", settings, recognizer, detector)
    tiff = process_document(image_folder / "c.tiff", settings, recognizer, detector)

    assert png.status == "ok" and len(png.pages) == 1 and png.pages[0].regions
    assert tiff.status == "ok" and [p.index for p in tiff.pages] == [0, 1]
    assert all(p.regions and p.error is None for p in tiff.pages)


def test_each_bad_input_fails_with_a_clear_error(bad_inputs, settings, recognizer, detector):
    for name, (path, words) in bad_inputs.items():
        result = process_document(path, settings, recognizer, detector)

        assert result.status == "failed", name
        assert words in result.error, (name, result.error)
        json.dumps(result.to_dict())  # a failed document still has a complete JSON


def test_encrypted_pdf_opens_with_its_password(bad_inputs, recognizer, detector):
    path, _ = bad_inputs["encrypted"]
    settings = PipelineSettings(dpi=TEST_DPI, password="secret")

    result = process_document(path, settings, recognizer, detector)

    assert result.status == "ok" and result.pages[0].regions


def test_oversized_page_gets_its_own_error_and_other_pages_go_on(
    tmp_path, make_pdf, formulas, recognizer, detector
):
    path = make_pdf(tmp_path / "mixed.pdf", [formulas])
    doc = pymupdf.open(path)
    doc.new_page(width=14400, height=14400)  # 200 x 200 inch: 400 Mpx at 100 dpi
    doc.saveIncr()
    doc.close()
    settings = PipelineSettings(dpi=TEST_DPI, limits=InputLimits(max_page_pixels=10_000_000))

    result = process_document(path, settings, recognizer, detector)

    assert result.status == "ok"
    assert result.pages[0].error is None and result.pages[0].regions
    assert "over the limit of 10000000 pixels" in result.pages[1].error
    assert result.pages[1].width == 20000  # size reported without rendering the page


def test_repaired_pdf_is_read_with_warnings(
    tmp_path, make_pdf, formulas, settings, recognizer, detector
):
    good = make_pdf(tmp_path / "good.pdf", [formulas])
    damaged = tmp_path / "damaged.pdf"
    damaged.write_bytes(good.read_bytes()[:-40])  # cut into the xref trailer

    result = process_document(damaged, settings, recognizer, detector)

    assert result.status == "ok" and result.pages[0].regions
    assert any("repaired" in w for w in result.warnings)


def test_born_digital_page_takes_formula_boxes_from_its_text_layer(tmp_path, recognizer, detector):
    path = tmp_path / "typeset.pdf"
    doc = pymupdf.open()
    page = doc.new_page(width=298, height=420)
    page.insert_text((30, 60), "Solve the equation below.", fontsize=12)
    page.insert_text((30, 120), "a + b = g", fontname="symb", fontsize=18)  # Symbol: α + β = γ
    doc.save(path)
    doc.close()

    fonts = process_document(path, PipelineSettings(dpi=TEST_DPI), recognizer, detector)
    pixels = process_document(
        path, PipelineSettings(dpi=TEST_DPI, use_text_layer=False), recognizer, detector
    )

    assert [r.method for r in fonts.pages[0].regions] == ["text_layer"]  # the prose is not math
    assert fonts.pages[0].regions[0].bbox[1] > 100  # the formula's line, not the sentence's
    assert pixels.pages[0].regions and {r.method for r in pixels.pages[0].regions} == {"image"}


def test_printed_prose_beside_formula_images_is_not_a_formula(
    tmp_path, make_pdf, formulas, recognizer, detector
):
    """A worksheet: a typed instruction (text layer) above pasted formula pictures. The text
    layer marks the sentence as prose; invisible OCR text over a picture hides nothing."""
    path = make_pdf(tmp_path / "worksheet.pdf", [formulas[:2]])
    doc = pymupdf.open(path)
    page = doc[0]
    page.insert_text((40, 40), "Exercise 4: simplify.", fontsize=12)
    page.insert_text((40, 165), "OCR guess of the fraction", fontsize=12, render_mode=3)
    doc.saveIncr()
    doc.close()

    with_text = process_document(path, PipelineSettings(dpi=TEST_DPI), recognizer, detector)
    pixels_only = process_document(
        path, PipelineSettings(dpi=TEST_DPI, use_text_layer=False), recognizer, detector
    )

    def tops(result):  # in PDF points, as drawn above
        return sorted(round(r.bbox[1] * 72 / TEST_DPI) for r in result.pages[0].regions)

    assert len(tops(pixels_only)) == 3 and tops(pixels_only)[0] < 40  # the sentence, wrongly
    assert len(tops(with_text)) == 2 and tops(with_text)[0] >= 55  # just the two formulas
    assert {r.method for r in with_text.pages[0].regions} == {"image"}


def test_rasterized_pdf_page_is_gray_without_alpha(formula_pdf):
    page = next(rasterize_pdf(formula_pdf, TEST_DPI, InputLimits()))

    assert page.image.dtype == np.uint8 and page.image.shape == (584, 414)
    assert page.image.max() == 255 and page.image.min() < 100  # white paper, dark ink


def test_transparent_image_background_becomes_white_paper(tmp_path):
    rgba = np.zeros((40, 60, 4), np.uint8)  # fully transparent black...
    rgba[10:30, 10:50] = (0, 0, 0, 255)  # ...with one opaque black stroke
    path = tmp_path / "ink.png"
    cv2.imwrite(str(path), rgba)

    page = next(load_images(path, InputLimits()))

    assert page.image[0, 0] == 255 and page.image[20, 20] == 0


@pytest.mark.parametrize(
    ("path", "root", "expected"),
    [
        ("in/scan 1.pdf", None, "scan_1"),
        ("in/sub/x.pdf", "in", "sub__x"),
        ("../../x.pdf", None, "x"),
        ("in/..pdf", None, "document"),
        ("in/.hidden.png", None, "hidden"),
        ("in/é.png", None, "document"),
    ],
)
def test_output_name_is_a_safe_file_name(path, root, expected):
    assert output_name(path, root) == expected


def test_save_outputs_refuses_names_that_leave_the_out_folder(tmp_path, formula_pdf, settings):
    result = assemble_document(formula_pdf, [], settings, {})

    for name in ("../../x", "sub/x", "/etc/x"):
        with pytest.raises(ValueError, match="would leave"):
            save_outputs(result, tmp_path / "out", name)
    assert not (tmp_path / "x.json").exists()


def test_save_outputs_replaces_json_atomically(tmp_path, formula_pdf, settings, monkeypatch):
    out = tmp_path / "out"
    first = assemble_document(formula_pdf, [], settings, {"name": "first"})
    path = save_outputs(first, out, "doc")["json"]
    assert json.loads(path.read_text())["model"] == {"name": "first"}

    def failing_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    second = assemble_document(formula_pdf, [], settings, {"name": "second"})
    with pytest.raises(OSError, match="disk full"):
        save_outputs(second, out, "doc")

    # The interrupted write left the old result whole and no temporary file behind.
    assert json.loads(path.read_text())["model"] == {"name": "first"}
    assert sorted(p.name for p in out.iterdir()) == ["doc.json"]


def test_settings_refuse_nonsense_dpi():
    with pytest.raises(ValueError, match="dpi"):
        PipelineSettings(dpi=0)


def test_output_names_stay_inside_out_dir_for_any_input(tmp_path, formula_pdf, settings):
    result = assemble_document(formula_pdf, [], settings, {})
    out = tmp_path / "out"
    for path in ("../../evil.pdf", "/abs/..../x.pdf", "a/b/../../../c.pdf", "..", "."):
        written = save_outputs(result, out, output_name(Path(path)))["json"]

        assert written.resolve().parent == out.resolve()
