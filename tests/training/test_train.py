"""A few real training steps on a tiny generated set: loss falls, the run resumes exactly."""

from pathlib import Path

import pytest
import torch

from ocr_model.checkpoint import load_checkpoint
from training import train


def _args(out: Path, data: Path, dictionary: Path, epochs: int, *extra: str):
    return train.parse_args(
        [
            "--out",
            str(out),
            "--synthetic",
            str(data),
            "--dictionary",
            str(dictionary),
            "--epochs",
            str(epochs),
            "--batch-size",
            "2",
            "--lr",
            "3e-3",
            "--threads",
            "1",
            "--log-every",
            "2",
            "--save-every",
            "2",
            *extra,
        ]
    )


def _dictionary(tmp_path: Path) -> Path:
    path = tmp_path / "dictionary.txt"
    tokens = ["x", "^", "{", "}", "2", "\\frac", "a", "b", "+", "(", ")", "3", "<eol>"]
    path.write_text("\n".join(f"{t}\t{i}" for i, t in enumerate(tokens)))
    return path


def test_training_lowers_loss_and_ships_a_loadable_checkpoint(latex_ocr_folder, tmp_path):
    out = tmp_path / "run"
    ship = tmp_path / "shipped.pt"
    state = train.main(_args(out, latex_ocr_folder, _dictionary(tmp_path), 12, "--ship", str(ship)))
    losses = [h["loss"] for h in state["history"] if "loss" in h]
    assert losses[-1] < losses[0]
    shipped = load_checkpoint(ship)
    assert shipped.training_state is None  # shipped files carry no optimiser state
    assert (out / "curves.png").is_file()


def test_interrupted_run_resumes_where_it_stopped(latex_ocr_folder, tmp_path):
    dictionary = _dictionary(tmp_path)
    straight = train.main(_args(tmp_path / "a", latex_ocr_folder, dictionary, 2))
    interrupted = train.main(
        _args(tmp_path / "b", latex_ocr_folder, dictionary, 2, "--max-steps", "3")
    )
    assert interrupted == {}
    resumed = train.main(
        _args(
            tmp_path / "b",
            latex_ocr_folder,
            dictionary,
            2,
            "--resume",
            str(tmp_path / "b" / "last.pt"),
        )
    )
    assert resumed["step"] == straight["step"]
    a = load_checkpoint(tmp_path / "a" / "last.pt").model.state_dict()
    b = load_checkpoint(tmp_path / "b" / "last.pt").model.state_dict()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key


def _val_folder(latex_ocr_folder: Path, tmp_path: Path) -> Path:
    """A 'val' split named printed_val, two of the training images with their formulas."""
    val = tmp_path / "printed_val"
    for sub in ("images/images_val", "formulas", "matching"):
        (val / sub).mkdir(parents=True)
    for name in ("0.png", "1.png"):
        (val / "images" / "images_val" / name).write_bytes(
            (latex_ocr_folder / "images" / "images_train" / name).read_bytes()
        )
    (val / "formulas" / "val.formulas.norm.txt").write_text("x ^ { 2 }\na + b\n")
    (val / "matching" / "val.matching.txt").write_text("0.png 0\n1.png 1\n")
    return val


def test_extra_validation_sets_are_scored_every_epoch(latex_ocr_folder, tmp_path):
    val = _val_folder(latex_ocr_folder, tmp_path)
    out = tmp_path / "run"
    state = train.main(
        _args(out, latex_ocr_folder, _dictionary(tmp_path), 1, "--val-set", str(val))
    )
    scored = [h for h in state["history"] if "printed_val_exprate" in h]
    assert [h["epoch"] for h in scored] == [1]
    assert load_checkpoint(out / "best.pt").metrics["printed_val"]["n"] == 2


def test_two_validation_sets_with_one_name_are_refused(latex_ocr_folder, tmp_path):
    args = _args(tmp_path / "run", latex_ocr_folder, _dictionary(tmp_path), 1)
    val = _val_folder(latex_ocr_folder, tmp_path)
    args.val_set = [val, val]
    with pytest.raises(SystemExit, match="two validation sets are named"):
        train.main(args)
