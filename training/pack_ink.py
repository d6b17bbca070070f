"""Pack an InkML folder into one compact file that ``training.train`` reads like the folder.

Parsing the CROHME training InkML (95 MB, 8 851 files) takes about a minute per run; the pack
(int16 points, labels applied) is a few MB, loads in a second and fits the working tree sent to
a GPU machine. Files that cannot be used are listed, not packed.

Usage:
    python -m training.pack_ink --ink ../shared/data/crohme/train_inkml \\
        --captions ../shared/data/crohme/train_caption.txt --out cache/gpu/crohme_train.npz
    python -m training.pack_ink --ink ../shared/data/crohme/test2013_inkml \\
        --out cache/gpu/crohme13.npz
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from training.datasets import read_captions, read_ink_folder, save_ink_pack


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ink", type=Path, required=True, help="folder of InkML files (recursive)")
    p.add_argument(
        "--captions", type=Path, help="id<TAB>tokens labels; without it, each file's truth"
    )
    p.add_argument("--out", type=Path, required=True, help="pack file to write (.npz)")
    return p.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    captions = read_captions(args.captions) if args.captions else None
    result = read_ink_folder(args.ink, captions)
    result.log_problems(str(args.ink))
    if not result.samples:
        raise SystemExit(f"{args.ink}: no usable InkML file")
    save_ink_pack(result.samples, args.out)
    print(
        f"packed {len(result.samples)} expressions into {args.out} "
        f"({args.out.stat().st_size / 1e6:.1f} MB); {len(result.problems)} files not usable"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(parse_args()))
