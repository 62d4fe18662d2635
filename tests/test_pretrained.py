"""Shipped checkpoints: published slim, verified by SHA-256, refused when damaged; the real ones load."""

import inspect

import pytest
import torch

from vaecourse import checkpoints, pretrained
from vaecourse.models import VAE


@pytest.fixture()
def shelf(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "HERE", tmp_path)
    monkeypatch.setattr(pretrained, "MANIFEST", tmp_path / "MANIFEST.json")
    return tmp_path


def _train_checkpoint(path):
    model = VAE(latent_dim=2, encoder="mlp28", image_shape=(1, 28, 28))
    optimizer = torch.optim.Adam(model.parameters())
    checkpoints.save(model, path, step=9, total_steps=10, optimizer=optimizer.state_dict(), command="python -m x",
                     history={"steps": [0, 1], "records": {"elbo": [-3.0, -1.0]}}, seconds=1.5, machine="test")
    return model


def test_publish_then_load_round_trip(shelf, tmp_path):
    model = _train_checkpoint(tmp_path / "run.pt")
    pretrained.publish(tmp_path / "run.pt", "tiny")
    assert pretrained.names() == ["tiny"] and pretrained.available("tiny")
    loaded = pretrained.load("tiny")
    x = torch.rand(3, 1, 28, 28)
    assert torch.allclose(loaded.embed(x), model.embed(x))
    info = pretrained.info("tiny")
    assert info["steps"] == 10 and info["command"] == "python -m x" and info["final_terms"]["elbo"] == -2.0
    assert "optimizer" not in checkpoints.read(pretrained.path("tiny")).extra  # shipped slim


def test_damaged_or_missing_files_are_refused(shelf, tmp_path):
    _train_checkpoint(tmp_path / "run.pt")
    pretrained.publish(tmp_path / "run.pt", "tiny")
    data = bytearray(pretrained.path("tiny").read_bytes())
    data[-10] ^= 0xFF
    pretrained.path("tiny").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged: SHA-256"):
        pretrained.load("tiny")
    with pytest.raises(ValueError, match="no shipped checkpoint called 'other'"):
        pretrained.load("other")
    pretrained.path("tiny").unlink()
    assert not pretrained.available("tiny")
    with pytest.raises(FileNotFoundError, match="missing"):
        pretrained.load("tiny")


@pytest.mark.parametrize("name", pretrained.names())
def test_every_shipped_checkpoint_verifies_and_runs(name):
    model = pretrained.load(name)
    shape = tuple(model.image_shape)
    inputs = (torch.zeros(2, *shape),)
    if "u" in inspect.signature(model.reconstruct).parameters:  # label-conditioned (chapter 5)
        inputs += (torch.zeros(2, model.n),)
    assert model.reconstruct(*inputs).shape == (2, *shape)
    assert pretrained.info(name)["command"].startswith("python -m vaecourse train")


def test_history_of_a_shipped_checkpoint(shelf, tmp_path):
    _train_checkpoint(tmp_path / "run.pt")
    pretrained.publish(tmp_path / "run.pt", "tiny")
    history = pretrained.history("tiny")
    assert history.steps == [0, 1] and list(history["elbo"]) == [-3.0, -1.0]
