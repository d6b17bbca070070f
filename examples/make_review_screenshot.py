"""Make ``docs/review.png``: a screenshot of the review page of ``examples/sample.pdf``.

Converts the sample with the shipped model, writes its HTML review page exactly as
``formula-ocr convert --format html`` does, and photographs it with headless chromium (Debian:
``apt-get install chromium``). The README shows the result.

Reproduce the committed screenshot (from the repository root; no PYTHONPATH after
``pip install -e .``):
    PYTHONPATH=. python examples/make_review_screenshot.py
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

from ocr_model import load_recognizer
from segmentation import FormulaDetector
from worker.pipeline import PipelineSettings, process_document, save_outputs

EXAMPLES = Path(__file__).resolve().parent
MAX_PNG_BYTES = 300_000  # the README image stays small in the repository


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--pdf", type=Path, default=EXAMPLES / "sample.pdf")
    parser.add_argument("--out", type=Path, default=EXAMPLES.parent / "docs" / "review.png")
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped one")
    parser.add_argument("--size", default="1280,1000", help="browser window WIDTH,HEIGHT")
    parser.add_argument("--colors", type=int, default=96, help="PNG palette size (file size)")
    return parser.parse_args()


def screenshot(page: Path, png: Path, size: str, profile: Path) -> None:
    """Photograph a local HTML page with headless chromium."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium not found: apt-get install chromium")
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        f"--user-data-dir={profile}", f"--window-size={size}", f"--screenshot={png}",
        page.as_uri(),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def main(args: argparse.Namespace) -> None:
    result = process_document(
        args.pdf, PipelineSettings(), load_recognizer(args.checkpoint), FormulaDetector()
    )
    with tempfile.TemporaryDirectory() as tmp:
        page = save_outputs(result, Path(tmp), args.pdf.stem, ["html"])["html"]
        shot = Path(tmp) / "shot.png"
        screenshot(page, shot, args.size, Path(tmp) / "profile")
        # A palette PNG is a third of the size of the RGB one and looks the same for a web page.
        image = Image.open(shot).convert("RGB").quantize(colors=args.colors)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        image.save(args.out, optimize=True)
    size = args.out.stat().st_size
    print(f"{args.out}: {image.width} x {image.height} px, {size} bytes")
    if size > MAX_PNG_BYTES:
        raise SystemExit(f"{args.out} is over {MAX_PNG_BYTES} bytes: use fewer --colors")


if __name__ == "__main__":
    main(parse_args())
