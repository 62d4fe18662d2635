"""Issue 25, the fourth held-out probe: its classes in checkpoints, recipes and the command line's helpers.

Each case is refused at the call in one line that names the argument or the file, or works where it is meaningful.
"""
import numpy as np
import pytest
import torch

from vaecourse import checkpoints, recipes
from vaecourse.models import VAE


def _vae():
    return VAE(latent_dim=2, image_shape=(1, 4, 4), encoder="mlp", decoder="mlp")


def _edited(tmp_path, change, name="edited.pt"):
    checkpoints.save(_vae(), tmp_path / "good.pt", step=3)
    payload = torch.load(tmp_path / "good.pt", weights_only=True)
    change(payload)
    torch.save(payload, tmp_path / name)
    return tmp_path / name


@pytest.mark.parametrize("change, words", [
    (lambda p: (p.pop("content_digest"), p.pop("state_digest")), r"carries no digest"),
    (lambda p: (p.pop("content_digest"), p.pop("state_digest"), p["state_dict"].update(
        {k: v + 1 for k, v in p["state_dict"].items()})), r"carries no digest"),
    (lambda p: p.update(vaecourse_version=None), r"'vaecourse_version' should be a str, found a NoneType"),
    (lambda p: p.update(vaecourse_version=3), r"'vaecourse_version' should be a str, found a int"),
], ids=["digests removed", "digests removed and weights edited", "version None", "version an int"])
def test_read_refuses_checkpoints_it_cannot_vouch_for(tmp_path, change, words):
    path = _edited(tmp_path, change)
    with pytest.raises(ValueError, match=words) as err:
        checkpoints.read(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_shipped_model_without_a_digest_is_checked_by_the_manifest(tmp_path):
    """The shipped files were written before checkpoints carried digests: the manifest's SHA-256 vouches for them,
    byte for byte; the same payload re-saved anywhere else (so not those bytes) is refused."""
    from vaecourse import pretrained

    shipped = pretrained.path("ch2_beta4")
    payload = torch.load(shipped, weights_only=True)
    assert "state_digest" not in payload and "content_digest" not in payload
    assert checkpoints.read(shipped).model_class == "VAE"
    payload["hparams"] = dict(payload["hparams"])
    torch.save(payload, tmp_path / "copy.pt")
    with pytest.raises(ValueError, match="carries no digest"):
        checkpoints.read(tmp_path / "copy.pt")


@pytest.mark.parametrize("extra, words", [
    ({"names": {"a", "b"}}, r"'names' .* got a set"),
    ({"score": np.float32(0.5)}, r"'score' .* got a numpy.float32"),
    ({"history": {"loss": [1.0, {2.0}]}}, r"'history' .* got a set"),
    ({"when": frozenset({1})}, r"'when' .* got a frozenset"),
    ({"shape": np.int64(3)}, r"'shape' .* got a numpy.int64"),
    ({"mu": torch.zeros(2, device="meta")}, r"'mu' .* got a Tensor .* on meta"),
    ({"codes": {"z": torch.zeros(3).to_sparse()}}, r"'codes' .* got a Tensor of layout torch.sparse_coo"),
], ids=["set", "numpy float", "set inside a dict", "frozenset", "numpy int", "meta tensor", "sparse tensor"])
def test_save_refuses_extra_values_that_do_not_read_back_as_they_were(tmp_path, extra, words):
    """A set's order (and so the content digest) changes from one Python process to the next: the file would read
    as damaged tomorrow. Refused before anything is written."""
    with pytest.raises(ValueError, match=words) as err:
        checkpoints.save(_vae(), tmp_path / "a.pt", **extra)
    assert "nothing was written" in str(err.value) and "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_save_keeps_plain_values_and_tensors(tmp_path):
    extra = dict(step=3, history={"loss": [1.0, 2.0], "t": torch.zeros(2)}, flags=(True, None, "x"),
                 optimizer={"state": {0: {"step": torch.tensor(1.0)}}, "param_groups": [{"lr": 1e-3}]})
    checkpoints.save(_vae(), tmp_path / "a.pt", **extra)
    back = checkpoints.read(tmp_path / "a.pt").extra
    assert back["step"] == 3 and back["flags"] == (True, None, "x") and back["history"]["loss"] == [1.0, 2.0]


@pytest.mark.parametrize("expected", [int, dict, 3.5, ["VAE"]], ids=["int", "dict", "a float", "a list"])
def test_read_refuses_an_expected_class_that_is_not_a_model_class(tmp_path, expected):
    checkpoints.save(_vae(), tmp_path / "a.pt")
    with pytest.raises(TypeError, match="expected_class must be a model class or its name"):
        checkpoints.read(tmp_path / "a.pt", expected_class=expected)
    assert checkpoints.read(tmp_path / "a.pt", expected_class=VAE).model_class == "VAE"


def test_state_digest_refuses_meta_tensors():
    with pytest.raises(ValueError, match=r"state_digest's w is a meta tensor \(no values\): expected a state dict"):
        checkpoints.state_digest({"w": torch.zeros(2, device="meta")})


@pytest.mark.parametrize("call, error, words", [
    (lambda: recipes.Recipe().check_applies(3), ValueError, r"check_applies' names must be a list of Recipe field"),
    (lambda: recipes.Recipe().check_applies(["nope"]), ValueError, r"got \['nope'\]"),
    (lambda: recipes.Recipe().check_applies("beta"), ValueError, r"got 'beta'"),
    (lambda: recipes.flag_of(3), TypeError, r"flag_of expected a field of Recipe"),
    (lambda: recipes.flag_of("beta"), TypeError, r"flag_of expected a field of Recipe"),
    (lambda: recipes.train(3), ValueError, r"train's run must be a Run"),
    (lambda: recipes.train(recipes.Recipe()), ValueError, r"train's run must be a Run .*got Recipe"),
], ids=["names an int", "an unknown name", "a string", "flag_of an int", "flag_of a name", "train an int",
        "train a Recipe"])
def test_recipe_helpers_name_what_they_take(call, error, words):
    with pytest.raises(error, match=words) as err:
        call()
    assert "\n" not in str(err.value)


def test_check_applies_still_refuses_a_field_that_does_not_apply_and_takes_one_that_does():
    with pytest.raises(ValueError, match=r"beta \(--beta\) applies to objective"):
        recipes.Recipe().check_applies(["beta"])
    recipes.Recipe(objective="beta").check_applies(("beta", "lr"))


def _repo(tmp_path, source=None, name="01_x.py"):
    for folder in ("notebooks", "solutions"):
        (tmp_path / folder).mkdir()
    if source == "fifo":
        import os
        os.mkfifo(tmp_path / "solutions" / name)
    elif source is not None:
        (tmp_path / "solutions" / name).write_bytes(source)
    return tmp_path


@pytest.mark.parametrize("source, name, words", [
    (b"def f(:\n", "01_x.py", "solutions/01_x.py:1: invalid syntax: fix the source before building"),
    (b"# %%\nx = 1\n# %%\n  y = 2\n", "01_x.py", "solutions/01_x.py:4: unexpected indent"),
    (b"\xff\xfe\x00garbage", "01_x.py", "solutions/01_x.py is not UTF-8 text"),
    (b"x = 1\0\n", "01_x.py", "solutions/01_x.py: source code string cannot contain null bytes"),
    ("fifo", "01_x.py", "repo-like/solutions/01_x.py is a FIFO: expected a regular file"),
    (b"{not json", "01_x.ipynb", "solutions/01_x.ipynb: has no .py twin"),
], ids=["syntax error", "an indented cell", "not UTF-8", "a NUL byte", "a FIFO", "a notebook without its .py"])
@pytest.mark.parametrize("check", [False, True], ids=["build", "check"])
def test_build_exercises_refuses_sources_it_cannot_build_and_writes_nothing(tmp_path, capsys, source, name, words,
                                                                           check):
    """Fourth probe: a solutions .py with a syntax error was built into exercises that cannot run ("3 files
    written"), a FIFO hung the build, and a notebook without its .py was "up to date" for the build while --check
    called it a problem. Refused in one line naming the file (status 2; --check reports it), nothing written."""
    from vaecourse.cli import main

    (tmp_path / "repo-like").mkdir()
    root = _repo(tmp_path / "repo-like", source, name)
    before = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
    code = main(["build-exercises", "--root", str(root), *(["--check"] if check else [])])
    out, err = capsys.readouterr()
    assert code == (1 if check and name.endswith(".ipynb") else 2), (out, err)
    text = out if check else err
    assert words.replace("repo-like/", "") in text and "Traceback" not in out + err, (out, err)
    if not check:
        assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == before
