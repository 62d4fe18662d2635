"""The command line, end to end on tiny runs: train, resume, show, evaluate, errors."""

import json

import pytest
import torch

from vaecourse import checkpoints
from vaecourse.cli import main

TINY = ["--encoder", "conv32", "--image-size", "32", "--latent-dim", "3", "--batch-size", "8", "--no-progress"]


def test_help_lists_every_verb(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for verb in ("train", "show", "evaluate", "data", "build-exercises"):
        assert verb in text


def test_train_writes_checkpoint_and_logs_then_show_and_evaluate(tmp_path, capsys):
    out = tmp_path / "runs" / "beta4.pt"
    assert main(["train", "--objective", "beta", "--beta", "4", "--steps", "6", "--checkpoint-every", "2",
                 "--out", str(out), *TINY]) == 0
    saved = checkpoints.read(out)
    assert saved.extra["step"] == 5 and saved.extra["objective"] == "beta"
    assert saved.hparams["encoder"] == "conv32" and saved.hparams["image_shape"] == [1, 32, 32]
    log = json.loads(out.with_name(out.name + ".log.json").read_text())
    assert log["steps"] == list(range(6))
    assert all(b == 4.0 for b in log["records"]["beta"])
    rows = out.with_name(out.name + ".log.csv").read_text().splitlines()
    assert rows[0].startswith("step,") and len(rows) == 7
    assert main(["show", str(out)]) == 0
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    assert main(["show", str(out), "--layer", "1"]) == 2  # one latent layer: --layer is a mistake, said so
    assert "--layer applies to a hierarchical model" in capsys.readouterr().err
    assert main(["evaluate", str(out), "--n", "8", "--k", "4", "--chunk", "2"]) == 0
    assert "importance-weighted" in capsys.readouterr().out
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_train_logvar_bias_reaches_the_model_and_its_checkpoint(tmp_path):
    """--logvar-bias -4 (chapter 2's recipe) builds VAE(logvar_bias=-4), and resume rebuilds the same model."""
    out = tmp_path / "b.pt"
    common = ["--objective", "beta", "--beta", "4", "--logvar-bias", "-4", *TINY]
    assert main(["train", "--steps", "2", "--out", str(out), *common]) == 0
    assert checkpoints.read(out).hparams["logvar_bias"] == -4.0
    assert main(["train", "--steps", "3", "--resume", "--out", str(out), *common]) == 0
    assert checkpoints.read(out).extra["step"] == 2


def test_resume_continues_to_the_same_result_as_an_uninterrupted_run(tmp_path):
    whole, split = tmp_path / "whole.pt", tmp_path / "split.pt"
    common = ["--objective", "constrained", "--epsilon", "5", "--lr-dual", "0.1", *TINY]
    assert main(["train", "--steps", "6", "--out", str(whole), *common]) == 0
    assert main(["train", "--steps", "3", "--out", str(split), *common]) == 0
    assert main(["train", "--steps", "6", "--resume", "--out", str(split), *common]) == 0
    a, b = checkpoints.read(whole), checkpoints.read(split)
    assert a.extra["history"]["steps"] == b.extra["history"]["steps"] == list(range(6))
    assert a.extra["objective_state"]["beta_trace"] == pytest.approx(b.extra["objective_state"]["beta_trace"])
    assert a.extra["objective_state"]["beta"] == pytest.approx(b.extra["objective_state"]["beta"])
    for key, value in a.model.state_dict().items():
        assert torch.allclose(value, b.model.state_dict()[key], atol=1e-5), key


def test_resume_refuses_a_checkpoint_of_another_configuration(tmp_path, capsys):
    out = tmp_path / "run.pt"
    assert main(["train", "--steps", "2", "--out", str(out), *TINY]) == 0
    assert main(["train", "--steps", "4", "--resume", "--out", str(out), *TINY[:4], "--latent-dim", "4",
                 *TINY[6:]]) == 2
    assert "cannot resume" in capsys.readouterr().err


def test_a_named_recipe_with_its_own_flags_resumes_given_them_again(tmp_path, capsys):
    """--recipe NAME --seed 1 ... continues with the same flags (benchmarks/bench_causal_promise.py does so at every
    stop); another value of one of them is still refused."""
    out = tmp_path / "run.pt"
    flags = ["--recipe", "ch5-cvae", "--seed", "1", "--batch-size", "4", "--no-progress", "--out", str(out)]
    assert main(["train", *flags, "--steps", "2"]) == 0
    assert main(["train", *flags, "--steps", "4", "--resume"]) == 0
    saved = checkpoints.read(out)
    assert saved.extra["step"] == 3 and saved.extra["arguments"]["seed"] == 1 and saved.extra["arguments"]["steps"] == 4
    capsys.readouterr()
    assert main(["train", *flags[:2], "--seed", "2", *flags[4:], "--steps", "6", "--resume"]) == 2
    assert "--seed 2 (the run has 1)" in capsys.readouterr().err
    assert main(["train", *flags[:2], *flags[6:], "--steps", "6", "--resume"]) == 2  # the recipe's own seed and batch
    assert "they differ in batch_size, seed" in capsys.readouterr().err
    assert checkpoints.read(out).extra["step"] == 3


@pytest.mark.parametrize("arguments, message", [
    (["--objective", "nonsense"], "argument --objective: expected one of elbo"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--objective", "beta", "--beta", "-1"], "argument --beta: expected a finite number >= 0"),
    (["--objective", "capacity", "--c-steps", "0"], "argument --c-steps: expected a positive integer (at most 2**63 - 1 = 9,223,372,036,854,775,807), got '0'"),
    (["--encoder", "resnet"], "argument --encoder: expected one of mlp"),
    (["--objective", "capacity", "--gamma", "-1"], "argument --gamma: expected a finite number >= 0"),
    (["--objective", "capacity", "--c-start-step", "-5"], "argument --c-start-step: expected an integer >= 0"),
    (["--objective", "constrained", "--epsilon", "-2"], "argument --epsilon: expected a finite number >= 0"),
    (["--objective", "constrained", "--lr-dual", "-0.1"], "argument --lr-dual: expected a finite number >= 0"),
    (["--objective", "beta_norm", "--beta", "-0.01"], "argument --beta: expected a finite number >= 0"),
])
def test_bad_arguments_get_clear_errors(tmp_path, capsys, arguments, message):
    assert main(["train", "--steps", "2", "--out", str(tmp_path / "x.pt"), *TINY, *arguments]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_normalised_beta_is_selectable_by_name(tmp_path):
    """--objective beta_norm reads --beta as Higgins et al.'s beta_norm = beta M / N and trains with beta."""
    out = tmp_path / "norm.pt"
    assert main(["train", "--objective", "beta_norm", "--beta", "0.01", "--steps", "2", "--out", str(out), *TINY]) == 0
    logged = json.loads(out.with_name(out.name + ".log.json").read_text())["records"]["beta"]
    assert logged == pytest.approx([0.01 * 32 * 32 / 3] * 2)  # N = 32x32 pixels, M = 3 latents


def test_recorded_seconds_count_the_run_once(tmp_path):
    """The final checkpoint's wall seconds are this run's time once (fit's time was once added twice)."""
    out = tmp_path / "timed.pt"
    assert main(["train", "--steps", "20", "--out", str(out), *TINY]) == 0
    saved = checkpoints.read(out).extra
    fit_seconds = saved["history"]["seconds"]
    assert fit_seconds > 0
    assert fit_seconds <= saved["seconds"] < 1.5 * fit_seconds


@pytest.mark.parametrize("name", ["dsprites", "mnist"])
def test_a_failed_download_is_a_clean_error_that_keeps_nothing(tmp_path, capsys, monkeypatch, name):
    """No network: the data verb ends with exit code 2 and one line naming what was tried, not a traceback."""
    from vaecourse.data import dsprites_official, mnist

    def offline(url, out):
        raise OSError(f"no route to host for {url}")

    monkeypatch.setattr(dsprites_official if name == "dsprites" else mnist, "_fetch", offline)
    assert main(["data", name, "--download", "--cache-dir", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: could not download") and "no route to host" in err and "Traceback" not in err
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))
