"""save/read/load: round trips, the wrong model class, damaged or foreign files, atomic writes, safe loading."""

import os

import pytest
import torch

import vaecourse
from vaecourse import checkpoints
from vaecourse.checkpoints import FORMAT, Checkpoint, atomic_write, load, read, save
from vaecourse.models import VAE

SHAPE = (1, 8, 8)


@pytest.fixture()
def model():
    torch.manual_seed(0)
    return VAE(latent_dim=3, encoder="mlp28", image_shape=SHAPE)


@pytest.fixture()
def saved(model, tmp_path):
    path = tmp_path / "model.pt"
    save(model, path, step=12)
    return path


def _x():
    return (torch.rand(4, *SHAPE, generator=torch.Generator().manual_seed(1)) > 0.5).float()


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_save_then_read_round_trips_weights_outputs_hparams_and_extras(model, tmp_path):
    optimizer = torch.optim.Adam(model.parameters())
    model(_x()).p_x.log_prob(_x()).sum().neg().backward()
    optimizer.step()
    extras = {"step": 12, "history": {"steps": [0, 1], "records": {"loss": [3.0, 2.5]}}, "score": torch.tensor(0.75),
              "optimizer": optimizer.state_dict(), "note": "beta=4", "shape": (1, 8, 8)}
    path = save(model, tmp_path / "sub" / "vae.pt", **extras)
    assert path == tmp_path / "sub" / "vae.pt" and path.is_file()

    ckpt = read(path)
    assert isinstance(ckpt, Checkpoint) and isinstance(ckpt.model, VAE)
    assert ckpt.model_class == "VAE" and ckpt.vaecourse_version == vaecourse.__version__
    assert ckpt.hparams == model.hparams == {"latent_dim": 3, "encoder": "mlp28", "image_shape": [1, 8, 8],
                                             "likelihood": "bernoulli", "decoder": "mlp28"}
    for (k, a), (k2, b) in zip(model.state_dict().items(), ckpt.model.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    x = _x()
    model.eval()
    assert torch.equal(ckpt.model.reconstruct(x), model.reconstruct(x))
    assert torch.equal(ckpt.model.embed(x), model.embed(x))
    assert ckpt.extra["step"] == 12 and ckpt.extra["note"] == "beta=4" and ckpt.extra["shape"] == (1, 8, 8)
    assert ckpt.extra["history"] == extras["history"]
    assert torch.equal(ckpt.extra["score"], torch.tensor(0.75))
    restored = torch.optim.Adam(ckpt.model.parameters())
    restored.load_state_dict(ckpt.extra["optimizer"])  # the optimiser state is usable as saved
    assert torch.equal(restored.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])


def test_load_returns_the_model_in_eval_mode_and_checks_the_class(saved):
    loaded = load(saved, expected_class="VAE")
    assert isinstance(loaded, VAE) and not loaded.training
    assert isinstance(load(saved, expected_class=VAE), VAE)
    assert isinstance(load(saved), VAE)
    with pytest.raises(ValueError, match=r"holds a VAE model, but a LadderVAE was expected"):
        load(saved, expected_class="LadderVAE")


def _rewrite(path, **changes):
    payload = torch.load(path, weights_only=True)
    payload.update(changes)
    torch.save(payload, path)


def test_a_checkpoint_of_another_model_class_names_both(saved):
    _rewrite(saved, model_class="CausalVAE")
    with pytest.raises(ValueError, match=r"holds a CausalVAE model, but a VAE was expected"):
        load(saved, expected_class="VAE")
    with pytest.raises(ValueError, match=r"hyper-parameters .* do not fit a CausalVAE"):
        read(saved)
    _rewrite(saved, model_class="NoSuchVAE")
    with pytest.raises(ValueError, match=r"unknown class 'NoSuchVAE'; known: \[.*'VAE'.*\]"):
        read(saved)


def test_weights_that_do_not_fit_the_hparams_are_a_value_error(saved):
    payload = torch.load(saved, weights_only=True)
    _rewrite(saved, hparams={**payload["hparams"], "latent_dim": 5})
    with pytest.raises(ValueError, match=r"the weights do not fit a VAE"):
        read(saved)


def test_a_file_of_random_bytes_is_a_value_error(tmp_path):
    path = tmp_path / "random.pt"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(ValueError, match=r"is not a readable vaecourse checkpoint \(corrupted, truncated"):
        read(path)


def test_a_truncated_checkpoint_is_a_value_error(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"is not a readable vaecourse checkpoint"):
        load(saved)


@pytest.mark.parametrize("content,found", [(torch.zeros(3), "'Tensor'"), ({"weights": torch.zeros(3)}, "None"),
                                           ({"format": "other/2"}, "'other/2'")])
def test_a_foreign_torch_file_is_a_value_error(tmp_path, content, found):
    path = tmp_path / "foreign.pt"
    torch.save(content, path)
    with pytest.raises(ValueError, match=rf"is not a vaecourse checkpoint: expected format '{FORMAT}', found {found}"):
        read(path)


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        read(tmp_path / "nope.pt")


def test_only_registered_models_can_be_saved(tmp_path):
    with pytest.raises(ValueError, match=r"cannot save a Linear: only registered vaecourse models"):
        save(torch.nn.Linear(2, 2), tmp_path / "linear.pt")
    assert _files(tmp_path) == []


# atomic writes --------------------------------------------------------------------------------------------------

def test_a_write_that_fails_midway_leaves_the_target_unchanged_and_no_temp_files(saved, model, monkeypatch):
    original = saved.read_bytes()
    real_save = torch.save

    def failing_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip")  # some bytes are written (save serialises to memory first)...
        raise OSError("disk full")  # ...then the write fails

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save(model, saved, step=13)
    monkeypatch.setattr(torch, "save", real_save)
    assert saved.read_bytes() == original
    assert _files(saved.parent) == ["model.pt"]
    assert read(saved).extra == {"step": 12}


def test_an_unpicklable_extra_leaves_the_target_unchanged_and_no_temp_files(saved, model):
    original = saved.read_bytes()
    with pytest.raises(Exception):
        save(model, saved, callback=lambda: None)  # a lambda cannot be pickled
    assert saved.read_bytes() == original
    assert _files(saved.parent) == ["model.pt"]


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "deep" / "file.txt"
    atomic_write(target, lambda tmp: open(tmp, "w").write("first"))
    assert target.read_text() == "first"
    with pytest.raises(KeyboardInterrupt):  # even a BaseException cleans up
        atomic_write(target, lambda tmp: (open(tmp, "w").write("second"), (_ for _ in ()).throw(KeyboardInterrupt)))
    assert target.read_text() == "first" and _files(target.parent) == ["file.txt"]


class Opaque:
    """A plain custom object: torch.save pickles it, torch.load(weights_only=True) refuses it."""

    def __init__(self, value=1):
        self.value = value


def test_an_extra_that_weights_only_loading_cannot_read_is_refused_and_the_target_kept(saved, model):
    original = saved.read_bytes()
    try:
        with pytest.raises(ValueError):
            save(model, saved, state=Opaque())
    finally:
        assert saved.read_bytes() == original
        assert _files(saved.parent) == ["model.pt"]


# safe loading ----------------------------------------------------------------------------------------------------

EXECUTED = []


def _payload_code():
    EXECUTED.append(True)
    return "pwned"


class Malicious:
    """Unpickling this calls _payload_code(): a full pickle load would run code."""

    def __reduce__(self):
        return (_payload_code, ())


def test_loading_never_unpickles_custom_objects(saved, tmp_path):
    payload = torch.load(saved, weights_only=True)
    for i, evil in enumerate((Malicious(), Opaque())):
        path = tmp_path / f"evil{i}.pt"
        torch.save({**payload, "extra": {"state": evil}}, path)
        EXECUTED.clear()
        with pytest.raises(ValueError, match=r"is not a readable vaecourse checkpoint") as refused:
            read(path)
        assert EXECUTED == [] and "weights_only=False" not in str(refused.value)  # never advise an unsafe load
    # the same file does run code under a full pickle load: the test file really is dangerous
    torch.load(tmp_path / "evil0.pt", weights_only=False)
    assert EXECUTED == [True]


def test_read_passes_weights_only_to_torch_load(saved, monkeypatch):
    seen = {}
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(checkpoints.torch, "load", spy)
    read(saved)
    assert seen.get("weights_only") is True


def test_a_flipped_byte_in_the_weights_is_found(saved, tmp_path):
    """torch's zip reader does not check CRCs: one changed byte inside a tensor loads silently. The digest stored
    at save time names the damaged file instead."""
    data = bytearray(saved.read_bytes())
    weight = max(torch.load(saved, weights_only=True)["state_dict"].values(), key=lambda t: t.numel())
    at = bytes(data).find(weight.flatten()[:8].numpy().tobytes())
    assert at > 0
    data[at + 3] ^= 0x10
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"damaged.pt is damaged: its weights do not match the digest"):
        read(damaged)


def test_nan_weights_are_refused_with_the_reason(saved, tmp_path):
    payload = torch.load(saved, weights_only=True)
    key = next(iter(payload["state_dict"]))
    payload["state_dict"][key] = payload["state_dict"][key] * float("nan")
    payload.pop("state_digest")  # as a run that diverged would have written it
    torch.save(payload, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match=rf"holds NaN or infinite weights \({key}\): the run that wrote it diverged"):
        read(tmp_path / "nan.pt")


@pytest.mark.parametrize("edit, message", [
    (lambda p: p.pop("hparams"), "has no 'hparams'"),
    (lambda p: p.pop("state_dict"), "has no 'state_dict'"),
    (lambda p: p.update(hparams=[1, 2]), "'hparams' should be a dict, found a list"),
    (lambda p: p.update(model_class=3), "'model_class' should be a str"),
    (lambda p: p.update(extra="x"), "'extra' should be a dict"),
    (lambda p: p["state_dict"].update(extra_weight=3), r"the weights \['extra_weight'\] are not named tensors"),
    (lambda p: p["hparams"].update(latent_dim="three"), "do not fit a VAE"),
    (lambda p: p["hparams"].update(latent_dim=-3), "do not fit a VAE"),
])
def test_hand_edited_checkpoints_are_refused_in_one_sentence(saved, tmp_path, edit, message):
    payload = torch.load(saved, weights_only=True)
    edit(payload)
    torch.save(payload, tmp_path / "edited.pt")
    before = (tmp_path / "edited.pt").read_bytes()
    with pytest.raises(ValueError, match=message):
        read(tmp_path / "edited.pt")
    assert (tmp_path / "edited.pt").read_bytes() == before
