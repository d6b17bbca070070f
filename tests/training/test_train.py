"""A few real training steps on a tiny generated set: loss falls, the run resumes exactly."""

from pathlib import Path

import pytest
import torch

from ocr_model.checkpoint import load_checkpoint
from ocr_model.config import RecognizerConfig
from training import train
from training.average import MovingAverage
from training.render_synthetic import PrintedRecord


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


@pytest.mark.parametrize("precision", [[], ["--bf16"]], ids=["float32", "bf16-autocast"])
def test_training_lowers_loss_and_ships_a_loadable_checkpoint(
    latex_ocr_folder, tmp_path, precision
):
    out = tmp_path / "run"
    ship = tmp_path / "shipped.pt"
    dictionary = _dictionary(tmp_path)
    args = _args(out, latex_ocr_folder, dictionary, 12, "--ship", str(ship), *precision)
    state = train.main(args)
    losses = [h["loss"] for h in state["history"] if "loss" in h]
    assert losses[-1] < losses[0]
    shipped = load_checkpoint(ship)
    assert shipped.training_state is None  # shipped files carry no optimiser state
    assert (out / "curves.png").is_file()
    # Autocast computes in bfloat16 but the weights it trains stay float32.
    resumable = load_checkpoint(out / "last.pt").model
    assert all(p.dtype == torch.float32 for p in resumable.parameters())


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


def test_data_loader_workers_give_the_same_batches_in_order(latex_ocr_folder, tmp_path):
    args = _args(tmp_path / "run", latex_ocr_folder, _dictionary(tmp_path), 1)
    vocab = train.build_vocab(args.dictionary)
    config = train.TrainConfig(batch_size=1, seed=5, epochs=3)
    samples = train.load_training(args, vocab) * 30  # 120 samples: three chunks of 40
    stream = train.SampleStream(samples, vocab, RecognizerConfig(len(vocab)), config)
    alone = list(stream.batches(1, start_batch=50))
    shared = list(stream.batches(1, start_batch=50, workers=2))
    # From batch 50 of epoch 1 through the last epoch, in order, whatever the chunk boundaries.
    expected = [(1, b) for b in range(50, 120)] + [(2, b) for b in range(120)]
    assert [tuple(b[:2]) for b in shared] == expected
    assert [tuple(b[:2]) for b in alone] == expected
    for a, b in zip(alone, shared, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a[2:], b[2:], strict=True))
    # Each epoch is its own permutation: epoch 2 does not repeat epoch 1's batches.
    first_labels = [b[4].tolist() for b in stream.batches(1)][:120]
    assert first_labels != [b[4].tolist() for b in alone[70:]]


def test_printed_formulas_are_drawn_as_they_are_used(tmp_path):
    dictionary = _dictionary(tmp_path)
    out = tmp_path / "run"
    args = train.parse_args(
        ["--out", str(out), "--printed", "6", "--dictionary", str(dictionary),
         "--batch-size", "2", "--epochs", "1", "--threads", "1"]
    )  # fmt: skip
    vocab = train.build_vocab(dictionary)
    samples = train.load_training(args, vocab)
    assert len(samples) == 6 and all(isinstance(s, PrintedRecord) for s in samples)
    config = train.TrainConfig(batch_size=2, epochs=2)
    stream = train.SampleStream(samples, vocab, RecognizerConfig(len(vocab)), config)
    batches = list(stream.batches(0))
    assert [b[:2] for b in batches] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    for _, _, images, _, targets, lengths in batches:
        assert images.dtype == torch.uint8 and images.max() > 100  # ink was drawn
        assert int(lengths.sum()) == len(targets)


def test_time_budget_ends_the_run_with_a_validation(latex_ocr_folder, tmp_path, caplog):
    out = tmp_path / "run"
    args = _args(
        out, latex_ocr_folder, _dictionary(tmp_path), 1000, "--schedule-minutes", "0.05",
        "--val-set", str(_val_folder(latex_ocr_folder, tmp_path)),
    )  # fmt: skip
    with caplog.at_level("INFO", logger=train.log.name):
        state = train.main(args)
    assert 0.05 * 60 <= state["seconds"] < 0.05 * 60 + 30
    validations = [r.getMessage() for r in caplog.records if "validation at step" in r.message]
    assert f"(epoch {state['epoch']} batch {state['batch']}/" in validations[-1]
    assert state["epoch"] < 1000
    assert "printed_val_exprate" in state["history"][-1]
    assert load_checkpoint(out / "best.pt").metrics["printed_val"]["n"] == 2


def test_init_weights_continue_at_another_height(latex_ocr_folder, tmp_path):
    dictionary = _dictionary(tmp_path)
    first = tmp_path / "first"
    train.main(_args(first, latex_ocr_folder, dictionary, 1))
    taller = tmp_path / "taller"
    init = ("--init", str(first / "last.pt"))
    train.main(_args(taller, latex_ocr_folder, dictionary, 1, *init, "--height", "80"))
    before = load_checkpoint(first / "last.pt")
    after = load_checkpoint(taller / "last.pt")
    assert (before.config.height, after.config.height) == (64, 80)
    assert after.model.state_dict().keys() == before.model.state_dict().keys()
    image = torch.rand(1, 1, 80, 64)
    log_probs, lengths = after.model.eval()(image, torch.tensor([64]))
    assert lengths.tolist() == [8 * 5]  # 8 columns x 5 feature rows
    with pytest.raises(SystemExit, match="multiple of 16"):
        train.main(
            _args(tmp_path / "odd", latex_ocr_folder, dictionary, 1, *init, "--height", "72")
        )


def test_moving_average_is_validated_beside_the_weights_and_resumes_exactly(
    latex_ocr_folder, tmp_path
):
    val = _val_folder(latex_ocr_folder, tmp_path)
    dictionary = _dictionary(tmp_path)
    extra = ("--val-set", str(val), "--average", "0.9")
    straight = train.main(_args(tmp_path / "a", latex_ocr_folder, dictionary, 2, *extra))
    assert [h["epoch"] for h in straight["history"] if "average_printed_val_exprate" in h] == [1, 2]
    train.main(_args(tmp_path / "b", latex_ocr_folder, dictionary, 2, *extra, "--max-steps", "3"))
    resume = ("--resume", str(tmp_path / "b" / "last.pt"))
    train.main(_args(tmp_path / "b", latex_ocr_folder, dictionary, 2, *extra, *resume))
    a = load_checkpoint(tmp_path / "a" / "last.pt")
    b = load_checkpoint(tmp_path / "b" / "last.pt")
    live = a.model.state_dict()
    averaged = a.training_state["moving_average"]
    floating = [k for k in live if live[k].is_floating_point()]
    assert any(not torch.allclose(averaged[k], live[k]) for k in floating)
    for key, value in averaged.items():
        assert torch.allclose(value, b.training_state["moving_average"][key], atol=1e-5), key


def test_bfloat16_instructions_are_read_from_the_cpu_flags():
    zen5 = "flags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni"
    sapphire_rapids = "flags\t\t: fpu avx2 avx512f amx_bf16 amx_tile"
    ice_lake = "flags\t\t: fpu avx2 avx512f avx512_vnni avx512_bitalg"
    assert train.cpu_computes_bfloat16(zen5)
    assert train.cpu_computes_bfloat16(sapphire_rapids)
    assert not train.cpu_computes_bfloat16(ice_lake)


def test_moving_average_moves_a_tenth_of_the_way_and_copies_batch_counts():
    live = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    average = MovingAverage(live, 0.9)
    before = average.model[0].weight.clone()
    with torch.no_grad():
        live[0].weight.add_(1.0)
    live(torch.randn(4, 2))  # a training-mode forward: batch-norm statistics and count move
    average.update(live)
    assert torch.allclose(average.model[0].weight - before, torch.full((2, 2), 0.1))
    assert torch.allclose(average.model[1].running_mean, 0.1 * live[1].running_mean)
    assert average.model[1].num_batches_tracked.item() == 1
    assert not any(p.requires_grad for p in average.model.parameters())
    with pytest.raises(ValueError, match="decay"):
        MovingAverage(live, 1.0)
