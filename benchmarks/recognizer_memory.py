"""Memory of a recognizer process: load the model, recognize a folder of crops, report peak RSS.

Imports only what a worker imports (``ocr_model``, OpenCV), so the figure is what one Celery
worker process costs. ``recognizer_speed.py`` runs it in a fresh process per backend.

    python benchmarks/recognizer_memory.py --images ../shared/data/hand/images/images_val
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ocr_model.checkpoint import DEFAULT_CHECKPOINT  # noqa: E402
from ocr_model.predictor import PredictorConfig, load_recognizer  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--images", type=Path, required=True, help="folder of *.png crops")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--backend", default=PredictorConfig.backend, choices=("torch", "onnx"))
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args(argv)


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started its program.

    ``VmHWM`` rather than ``getrusage``: ru_maxrss survives exec, so a child started from a big
    parent would report the parent's size.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)  # the value is in kB
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def main(args: argparse.Namespace) -> dict:
    recognizer = load_recognizer(
        args.checkpoint, PredictorConfig(backend=args.backend, num_threads=args.threads)
    )
    crops = []
    for path in sorted(args.images.glob("*.png")):
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image.ndim == 3:  # OpenCV reads BGR(A); crops from the pipeline are RGB(A) or gray
            image = cv2.cvtColor(
                image, {3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGBA}[image.shape[2]]
            )
        crops.append(image)
    recognizer(crops)
    return {
        "backend": args.backend,
        "crops": len(crops),
        "peak_rss_mb": peak_rss_mb(),
        # memory only this process holds (shared libraries excluded): what each extra
        # prefork worker adds
        "uss_mb": round(psutil.Process().memory_full_info().uss / 2**20, 1),
    }


if __name__ == "__main__":
    print(json.dumps(main(parse_args())))
