"""Issue 25, the ninth held-out probe (the lead's part): bools mixed into lists of numbers, and show's --out names.

A list of bools alone was refused everywhere, but once a number sat beside them numpy read [True, 0.5] as [1.0, 0.5]:
a mask or a flag passed where numbers are meant went through as the numbers 1 and 0 (exercise 2.7 gave ✅ reading True
as latent z1). ``values.holds_bool`` is the one test, used by the kinds, the metrics' readers and the checks' readers.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vaecourse import values
from vaecourse.check import think
from vaecourse.cli.main import main
from vaecourse.metrics.checks import check_codes, check_numbers
from vaecourse.metrics.latent_kl import active_latents

MIXED = {
    "bool first": [True, 0.5],
    "bool last": [0.25, 2.0, False],
    "nested": [[0.5, 1.0], [True, 2.0]],
    "tuple": (1, [2, False]),
    "numpy bool": [np.bool_(True), 0.5],
    "bool tensor item": [torch.tensor(True), 0.5],
    "bool array item": [np.array([True, False]), np.array([0.5, 1.0])],
}


@pytest.mark.parametrize("value", MIXED.values(), ids=MIXED.keys())
def test_a_list_mixing_bools_and_numbers_is_no_numbers(value):
    assert values.holds_bool(value)
    with pytest.raises(ValueError, match=r"^x must be finite real numbers"):
        values.finite_numbers.check("x", value)
    with pytest.raises(ValueError, match=r"^kl must be real numbers .* got a list holding bools"):
        check_numbers(value, "kl")
    with pytest.raises(ValueError, match=r"^the latents' KL must be real numbers from a finished run"):
        think._finite(value, "the latents' KL")


def test_numbers_alone_still_read():
    for value in ([0.5, 1.0], (1, 2), [[1.0], [2.0]], [np.float32(0.5), 2], [torch.tensor(0.5), 1.0]):
        assert not values.holds_bool(value)
        assert values.finite_numbers.check("x", value).dtype == torch.float64
    assert active_latents([0.5, 0.001]).tolist() == [0]
    loop = [1.0]
    loop.append(loop)  # a list that holds itself: walked once, refused as no numbers (not a hang)
    with pytest.raises(ValueError, match=r"^x must be finite real numbers"):
        values.finite_numbers.check("x", loop)


def test_active_latents_and_codes_refuse_bools_beside_numbers():
    with pytest.raises(ValueError, match=r"^active_latents' kl .* got a list holding bools: \[True, 0\.5\]"):
        active_latents([True, 0.5])
    with pytest.raises(ValueError, match=r"^representation_fn must return real-valued codes .* holding bools"):
        check_codes([[True, 0.5], [0.1, 0.2]], 2)


RUN = {"factor_names": ["shape", "scale", "x"], "latent": [0, 1, 2], "abs_rho": [0.9, 0.8, 0.1], "threshold": 0.3}


@pytest.mark.parametrize("damage", [{"latent": [True, False, 2]}, {"abs_rho": [True, 0.8, 0.1]}, {"kl": [True, 1.5, 0.01]}],
                         ids=["latent", "abs_rho", "kl"])
def test_exercise_2_7_gives_no_tick_for_bools_read_as_numbers(damage, capsys):
    run = {**RUN, **{k: v for k, v in damage.items() if k != "kl"}}
    kl = damage.get("kl", [2.0, 1.5, 0.01])
    assert think.interpret_dropped_factor(lambda: "x", run, kl) is False
    out = capsys.readouterr().out
    assert "❌" in out and "must be real numbers from a finished run" in out and "✅" not in out
    assert think.interpret_dropped_factor(lambda: "x", RUN, [2.0, 1.5, 0.01]) is True  # the same run, read right


# ---- show --out: a name that says PNG, and a checkpoint that is a file ------------------------------------------
@pytest.fixture
def checkpoint(tmp_path):
    from vaecourse import checkpoints
    from vaecourse.models import VAE
    torch.manual_seed(0)
    path = tmp_path / "vae.pt"
    checkpoints.save(VAE(latent_dim=2, encoder="mlp", image_shape=(1, 8, 8)), path)
    return path


@pytest.mark.parametrize("name", ["y.pt", "y.csv", "y.json", "y.npz", "y.bmp", "y"])
def test_show_writes_png_bytes_only_under_a_png_name(checkpoint, capsys, name):
    out = checkpoint.parent / name
    assert main(["show", str(checkpoint), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "show writes a PNG, expected a name ending in .png, got" in err, err
    assert not out.exists()


def test_show_of_a_png_name_in_any_case_still_draws(checkpoint, capsys):
    out = checkpoint.parent / "T.PNG"
    assert main(["show", str(checkpoint), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("folder", [".", "/"])
def test_show_of_a_folder_names_it(capsys, folder):
    assert main(["show", folder]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: show's checkpoint {folder!r} is a folder: expected a checkpoint file (e.g. vae.pt)", err
