"""LaTeX and Markdown exports and the review page, from real pipeline results and made-up ones.

Results of the random tiny model carry junk LaTeX, so content checks use results built here with
known formulas, and the pipeline results check structure, provenance comments and order.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from worker.cli import main
from worker.export import one_line, to_latex, to_markdown
from worker.pipeline import process_document
from worker.review import build_review
from worker.schema import DocumentResult, PageResult, Region

TWO_PAGES = [["x^2 + y^2 = z^2", "a/b - 3 = c"], ["f(x) = 2x + 1", "(3) k = 7"]]
TEX_ENGINES = ("pdflatex", "lualatex")
# Every character TeX treats specially, in a file name and an error message.
HOSTILE_TEXT = r"50% of #1 & $2 {x}_y ~ ^ \end{document}"


@pytest.fixture
def two_page_result(tmp_path, make_pdf, settings, recognizer, detector) -> DocumentResult:
    pdf = make_pdf(tmp_path / "two pages.pdf", TWO_PAGES)
    result = process_document(pdf, settings, recognizer, detector)
    # Without regions on both pages the order checks below would prove nothing.
    assert result.status == "ok" and all(page.regions for page in result.pages)
    return result


def made_up_result(source: str = "/nowhere/worksheet.pdf") -> DocumentResult:
    """Three pages with known formulas: page 2 unreadable, low-confidence ones on pages 1 and 3."""
    return DocumentResult(
        source=source,
        dpi=100,
        model={"name": "made-up"},
        pages=[
            PageResult(0, 400, 560, [
                Region([20, 30, 200, 70], r"x ^ { 2 } + y ^ { 2 } = z ^ { 2 }", 0.97, False),
                Region([20, 100, 150, 140], r"\frac { a } { b } - 3", 0.31, True),
            ]),
            PageResult(1, 400, 560, error=HOSTILE_TEXT),
            PageResult(2, 400, 560, [
                Region([20, 30, 200, 70], r"\sqrt { x } - 1", 0.88, False),
                Region([20, 100, 200, 140], r"\begin{matrix} a \end{matrix}", 0.42, True),
                Region([20, 200, 90, 230], "", 0.05, True),
            ]),
        ],
    )  # fmt: skip


def expected_formulas(result: DocumentResult) -> list[str]:
    return [
        one_line(region.latex)
        for page in result.pages
        for region in page.regions
        if one_line(region.latex)
    ]


def expected_provenance(result: DocumentResult) -> list[tuple[int, int, list[int]]]:
    return [
        (page.index + 1, number, region.bbox)
        for page in result.pages
        for number, region in enumerate(page.regions, start=1)
    ]


def provenance(text: str) -> list[tuple[int, int, list[int]]]:
    """(page, formula number, box) of every provenance comment, in file order."""
    pattern = r"page (\d+), formula (\d+), box \[(\d+), (\d+), (\d+), (\d+)\]"
    return [
        (int(m[1]), int(m[2]), [int(v) for v in m.groups()[2:]]) for m in re.finditer(pattern, text)
    ]


def tex_structure_errors(tex: str) -> list[str]:
    """Unbalanced braces, environments or display math in a LaTeX source (comments ignored)."""
    errors, stack = [], []
    for number, line in enumerate(tex.splitlines(), start=1):
        line = re.sub(r"(?<!\\)%.*", "", line)
        for token in re.findall(r"\\begin\{[^}]*\}|\\end\{[^}]*\}|\\.|[{}]|\\\[|\\\]", line):
            if token in ("{", r"\[") or token.startswith(r"\begin"):
                opener = {"{": "}", r"\[": r"\]"}.get(token) or token.replace("begin", "end")
                stack.append(opener)
            elif (token in ("}", r"\]") or token.startswith(r"\end")) and (
                not stack or stack.pop() != token
            ):
                errors.append(f"line {number}: unexpected {token}")
    return errors + [f"never closed: {closer}" for closer in stack]


def test_structure_check_catches_unbalanced_tex():
    assert tex_structure_errors(r"\begin{document} {a} \[ x \] \end{document}") == []
    assert tex_structure_errors(r"\begin{document} \[ {x \] \end{document}")
    assert tex_structure_errors(r"\begin{document} \{ x")


def test_tex_of_two_page_pdf_is_balanced_with_every_formula_in_reading_order(two_page_result):
    tex = to_latex(two_page_result)
    assert tex.startswith("\\documentclass{article}") and "\\usepackage{amsmath}" in tex
    assert tex_structure_errors(tex) == []
    # One section per page, in page order, and every region's comment under its own page.
    assert re.findall(r"\\section\*\{Page (\d+)\}", tex) == ["1", "2"]
    assert provenance(tex) == expected_provenance(two_page_result)
    assert re.findall(r"\\\[\n(.*)\n\\\]", tex) == expected_formulas(two_page_result)


def test_tex_keeps_formulas_in_page_and_reading_order_under_their_sections():
    result = made_up_result()
    tex = to_latex(result)
    sections = re.split(r"\\section\*\{Page \d+\}", tex)[1:]
    displayed = [re.findall(r"\\\[\n(.*)\n\\\]", section) for section in sections]
    assert displayed == [
        ["x ^ { 2 } + y ^ { 2 } = z ^ { 2 }", r"\frac { a } { b } - 3"],
        [],
        [r"\sqrt { x } - 1", r"\begin{matrix} a \end{matrix}"],
    ]
    assert "could not be read: 50\\% of \\#1 \\& \\$2" in sections[1]
    assert tex_structure_errors(tex) == []


def test_low_confidence_formulas_get_check_comment_and_margin_note():
    result = made_up_result()
    tex = to_latex(result)
    blocks = tex.split("\n% page ")[1:]
    regions = [region for page in result.pages for region in page.regions]
    assert len(blocks) == len(regions)
    for block, region in zip(blocks, regions, strict=True):
        assert ("% CHECK" in block) == region.low_confidence
        assert ("\\marginpar{" in block) == region.low_confidence
        assert f"confidence {region.confidence:.3f}" in block


def test_markdown_lists_every_formula_in_dollar_blocks_with_comments():
    result = made_up_result(source="<b>sheet</b>.pdf")
    markdown = to_markdown(result)
    assert re.findall(r"^\$\$\n(.*)\n\$\$$", markdown, flags=re.M) == expected_formulas(result)
    assert provenance(markdown) == expected_provenance(result)
    assert len(re.findall(r"<!-- page \d+, formula \d+", markdown)) == 5
    assert markdown.count("**CHECK:**") == 3
    assert "&lt;b&gt;sheet&lt;/b&gt;.pdf" in markdown and "<b>" not in markdown


def _tex_engine() -> str:
    engine = next((e for e in TEX_ENGINES if shutil.which(e)), None)
    if engine is None:
        pytest.skip("no TeX engine (pdflatex or lualatex) installed: only structural checks ran")
    return engine


def test_tex_exports_compile_with_a_tex_engine(tmp_path, two_page_result):
    engine = _tex_engine()
    hostile = made_up_result(source=f"/scans/{HOSTILE_TEXT}.pdf")
    for name, result in {"pipeline": two_page_result, "hostile": hostile}.items():
        (tmp_path / f"{name}.tex").write_text(to_latex(result), encoding="utf-8")
        run = subprocess.run(
            [engine, "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout[-2000:]
        assert (tmp_path / f"{name}.pdf").stat().st_size > 0


def test_export_from_json_gives_the_same_files_as_convert(tmp_path, make_pdf, tiny_checkpoint):
    pdf = make_pdf(tmp_path / "sheet.pdf", TWO_PAGES)
    during, later = tmp_path / "during", tmp_path / "later"
    model = ["--checkpoint", str(tiny_checkpoint), "--dpi", "100", "--no-progress"]
    assert main(["convert", str(pdf), "--out", str(during), "--format", "tex,md,html", *model]) == 0
    assert sorted(p.name for p in during.iterdir()) == [
        "sheet.html", "sheet.json", "sheet.md", "sheet.tex",
    ]  # fmt: skip
    json_path = during / "sheet.json"
    assert main(["export", str(json_path), "--format", "tex,md,html", "--out", str(later)]) == 0
    assert main(["review", str(json_path), "--out", str(later / "review.html")]) == 0
    for suffix in ("tex", "md", "html"):
        assert (later / f"sheet.{suffix}").read_bytes() == (during / f"sheet.{suffix}").read_bytes()
    assert (later / "review.html").read_bytes() == (during / "sheet.html").read_bytes()


def test_export_of_a_file_that_is_not_a_result_fails_clearly(tmp_path, capsys):
    bad = tmp_path / "notes.json"
    bad.write_text('["not", "a", "result"]')
    assert main(["export", str(bad), "--format", "tex"]) == 2
    assert main(["review", str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err
    assert "is not a formula-ocr result JSON" in err and "cannot read" in err
    assert not (tmp_path / "notes.tex").exists()


def test_review_page_is_self_contained_with_a_crop_and_rendering_per_region(two_page_result):
    page = build_review(two_page_result)
    regions = sum(len(p.regions) for p in two_page_result.pages)
    assert page.count('<article class="region') == regions
    assert page.count('<div class="crop"><img src="data:image/png;base64,') == regions
    assert page.count("<svg viewBox") == len(two_page_result.pages)  # thumbnails
    # Nothing is fetched: every src/href is inline data or an anchor on the page.
    assert re.findall(r'(?:src|href)="(?!data:|#)[^"]*"', page) == []


def test_review_page_says_which_formulas_cannot_be_rendered_or_cropped():
    page = build_review(made_up_result())
    assert page.count('<article class="region') == 5
    assert "cannot render this LaTeX" in page  # \begin{matrix} is beyond mathtext
    assert "nothing was recognized" in page
    assert page.count('alt="rendered formula') == 3
    assert page.count("scan not available: file not found") == 5  # /nowhere/worksheet.pdf
