"""The command line for chapter 4: train a Ladder VAE on the offline digits (shipped MNIST), evaluate it, refuse bad sizes."""

import pytest
import torch

from vaecourse import checkpoints
from vaecourse.cli import main
from vaecourse.models import LadderVAE


def test_train_and_evaluate_an_lvae(tmp_path, capsys):
    out = tmp_path / "lvae.pt"
    code = main(["train", "--model", "lvae", "--dataset", "digits", "--objective", "ladder", "--latent-sizes", "6,3",
                 "--hidden-sizes", "32,16", "--warmup-epochs", "1", "--steps", "30", "--batch-size", "200",
                 "--checkpoint-every", "10", "--out", str(out), "--no-progress", "--device", "cpu"])
    assert code == 0
    saved = checkpoints.read(out)
    model = saved.model
    assert isinstance(model, LadderVAE) and model.latent_sizes == (6, 3) and model.hparams["batch_norm"]
    weights = saved.extra["history"]["records"]["kl_weight"]
    # 4,000 training images (the shipped MNIST digits' split) / 200 = 20 steps per epoch: the weight rises linearly
    # over the one warm-up epoch, then stays at 1
    assert weights[0] == 0.0 and weights[10] == pytest.approx(0.5) and weights[19] == pytest.approx(19 / 20)
    assert weights[20:] == [1.0] * 10
    assert "kl_layer1" in saved.extra["history"]["records"]
    capsys.readouterr()
    assert main(["evaluate", str(out), "--dataset", "digits", "--n", "20", "--k", "10", "--chunk", "3",
                 "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "ELBO" in text and "importance-weighted log p(x) estimate, k=10" in text
    # show: the top layer by default, any layer with --layer, a clear error for a layer that is not there
    assert main(["show", str(out), "--columns", "3"]) == 0
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["show", str(out), "--layer", "1", "--columns", "3", "--out", str(tmp_path / "z1.png")]) == 0
    assert (tmp_path / "z1.png").stat().st_size > 0
    capsys.readouterr()
    assert main(["show", str(out), "--layer", "3"]) == 2
    assert "--layer must be between 1 and 2" in capsys.readouterr().err


def test_bottom_up_without_batch_norm(tmp_path):
    out = tmp_path / "vae.pt"
    assert main(["train", "--model", "lvae", "--dataset", "digits", "--inference", "bottom_up", "--no-batch-norm",
                 "--latent-sizes", "4,2", "--hidden-sizes", "16,8", "--steps", "3", "--out", str(out),
                 "--no-progress", "--device", "cpu"]) == 0
    model = checkpoints.load(out)
    assert model.inference == "bottom_up" and not any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules())


def test_bad_sizes_and_missing_mnist(tmp_path, capsys, monkeypatch):
    args = ["train", "--model", "lvae", "--dataset", "digits", "--steps", "1", "--out", str(tmp_path / "x.pt"),
            "--no-progress", "--device", "cpu"]
    assert main(args + ["--latent-sizes", "4,2", "--hidden-sizes", "16"]) == 2
    assert "one entry per stochastic layer" in capsys.readouterr().err
    assert main(args + ["--latent-sizes", "4,x"]) == 2
    assert "comma-separated on the command line" in capsys.readouterr().err
    monkeypatch.setenv("VAECOURSE_CACHE", str(tmp_path / "empty-cache"))
    assert main(["data", "mnist"]) == 2
    assert "download" in capsys.readouterr().err
