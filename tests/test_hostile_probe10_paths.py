"""Tenth probe, paths and data files: every folder reader refuses a bad folder in one line (files.check_folder), a
file reached through a file or a loop is one line (files.check_regular), and the data files' content is checked
(an .npy header cut short, an IDX header of 200 dimensions, labels outside 0-9); a file the user named is never
advised to be deleted."""
import errno
import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from vaecourse import files
from vaecourse.authoring import course, exercises, site
from vaecourse.data import download, dsprites_official, mnist, mnist5k
from vaecourse.data.dsprites import FACTOR_VALUES


@pytest.fixture
def place(tmp_path, monkeypatch):
    """tmp_path with a loop (loop -> loop), a file (afile) and a folder whose lookups fail with EACCES (locked: os.stat
    and os.lstat patched, since root ignores modes; the real modes are tested below under setpriv)."""
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "afile").write_text("x")
    locked = str(tmp_path / "locked")
    real_stat, real_lstat = os.stat, os.lstat

    def guarded(real):
        def call(p, *args, **kwargs):
            if isinstance(p, (str, os.PathLike)) and os.fspath(p).startswith(locked):
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(p))
            return real(p, *args, **kwargs)
        return call

    monkeypatch.setattr(os, "stat", guarded(real_stat))
    monkeypatch.setattr(os, "lstat", guarded(real_lstat))
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


BAD = {  # kind: (the path given, words the refusal says besides the argument's name)
    "256-byte name": (lambda t: t / ("x" * 256), "File name too long"),
    "5000-byte path": (lambda t: t / "/".join(["y" * 9] * 500), "File name too long"),
    "~unknown user": (lambda t: "~nosuchuser/x", "no such user"),
    "a loop a->a": (lambda t: t / "loop", "loops"),
    "a parent loop": (lambda t: t / "loop" / "x", "loops"),
    "a file as parent": (lambda t: t / "afile" / "x", "through"),
    "a file": (lambda t: t / "afile", "not one"),
    "empty": (lambda t: "", "folder"),
    "an int": (lambda t: 5, "got 5"),
    "bytes": (lambda t: b"x", "got b'x'"),
    "a NUL": (lambda t: "a\0b", "NUL"),
    "EACCES": (lambda t: t / "locked" / "x", "Permission denied (errno EACCES)"),
    "None": (lambda t: None, "got None"),  # only where None is not meant
}

READERS = {  # reader: (call, the argument's name in the refusal, whether None is meant)
    "default_cache_dir": (lambda p: download.default_cache_dir(p), "cache_dir", True),
    "mnist_dir": (lambda p: mnist.mnist_dir(p), "root", True),
    "load_mnist": (lambda p: mnist.load_mnist(p), "root", True),
    "load_digit_images(mnist)": (lambda p: mnist.load_digit_images("mnist", root=p), "root", True),
    "load_digit_images(auto)": (lambda p: mnist.load_digit_images("auto", root=p), "root", True),
    "load_official_dsprites(cache_dir)": (lambda p: dsprites_official.load_official_dsprites(cache_dir=p),
                                          "cache_dir", True),
    "find_notebooks": (lambda p: course.find_notebooks(p), "find_notebooks' root", False),
    "exercises.build_all": (lambda p: exercises.build_all(p), "root", False),
    "exercises.check_built": (lambda p: exercises.check_built(p), "root", False),
    "copy_mathjax": (lambda p: site.copy_mathjax(p), "copy_mathjax's out", False),
    "build_site(root)": (lambda p: site.build_site("unused-out", p), "build_site's root", True),
    "build_site(out)": (lambda p: site.build_site(p, Path(__file__).parents[1]), "build_site's out", False),
}


@pytest.mark.parametrize("reader, kind", [(reader, kind) for reader, (_, _, none_meant) in READERS.items()
                                          for kind in BAD if kind != "None" or not none_meant])  # None: the default
def test_every_folder_reader_refuses_every_bad_folder_in_one_line(place, monkeypatch, reader, kind):
    call, name, _ = READERS[reader]
    given, words = BAD[kind]
    monkeypatch.chdir(place)  # '' was the current folder
    with pytest.raises(ValueError) as caught:
        call(given(place))
    message = str(caught.value)
    assert name in message and "folder" in message and words in message, message
    assert "\n" not in message
    assert not isinstance(caught.value, site.SiteBuildError)


def test_exercises_main_reports_a_bad_root_in_one_line_and_status_2(place, capsys):
    for given, words in BAD.values():
        assert exercises.main(given(place)) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: root") and words in err and err.count("\n") == 1, err


def test_valid_folders_still_work_and_tilde_is_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(download.CACHE_ENV, raising=False)
    assert download.default_cache_dir() == tmp_path / ".cache" / "vaecourse"
    assert download.default_cache_dir("~/c") == tmp_path / "c"
    assert download.default_cache_dir(tmp_path) == tmp_path
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "env"))
    assert download.default_cache_dir() == tmp_path / "env"
    assert mnist.mnist_dir() == tmp_path / "env" / "mnist"
    assert mnist.mnist_dir("~/m") == tmp_path / "m" and mnist.mnist_dir(tmp_path) == tmp_path
    assert mnist.load_digit_images("auto", root="~/m").source.startswith("5,000 real MNIST digits")
    with pytest.raises(FileNotFoundError, match="is not in"):
        mnist.load_mnist("~/m")
    for root in ("~", tmp_path / "absent"):  # no course there (probe 10b #10): refused, not "no notebook"
        with pytest.raises(ValueError, match="find_notebooks' root"):
            course.find_notebooks(root)
    (tmp_path / "notebooks").mkdir()
    assert course.find_notebooks("~") == []
    assert exercises.build_all("~") == [] and exercises.check_built(tmp_path) == []
    assert exercises.main(str(tmp_path)) == 0
    assert site.copy_mathjax(tmp_path / "site") == tmp_path / "site" / "mathjax"
    assert (tmp_path / "site" / "mathjax" / "MathJax.js").is_file()
    with pytest.raises(site.SiteBuildError, match="no notebooks found"):  # a real build failure stays one
        site.build_site(tmp_path / "out", "~")


def test_a_folder_that_cannot_be_searched_is_refused_with_real_modes(tmp_path):
    """Root ignores modes: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (setpriv) to see a real EACCES."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "inner").mkdir()
    locked.chmod(0o000)
    script = ("import sys\nfrom vaecourse.data import mnist\nfrom vaecourse.files import check_regular\n"
              "for call in (lambda: mnist.mnist_dir(sys.argv[1]), lambda: mnist.mnist_dir(sys.argv[1] + '/inner'),\n"
              "             lambda: check_regular(sys.argv[1] + '/inner/f', 'the file')):\n"
              "    try:\n        call()\n    except ValueError as err:\n        print('refused:', err)\n"
              "    else:\n        print('accepted')\n")
    drop = "-dac_override,-dac_read_search"
    try:
        done = subprocess.run(["setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}", sys.executable, "-c",
                               script, str(locked)], capture_output=True, text=True, timeout=120,
                              cwd=Path(__file__).parents[1])
    finally:
        locked.chmod(0o755)
    if done.returncode and "setpriv" in done.stderr:
        pytest.skip(f"setpriv cannot drop capabilities here: {done.stderr.strip()}")
    lines = done.stdout.splitlines()
    assert len(lines) == 3, done.stdout + done.stderr
    assert lines[0].startswith("refused: root (the folder of the MNIST files)") and "errno EACCES" in lines[0]
    assert "search" in lines[0]
    assert lines[1].startswith("refused: root") and "errno EACCES" in lines[1] and f"{locked} cannot be searched" in lines[1]
    assert lines[2].startswith("refused: the file") and "errno EACCES" in lines[2]


# ------------------------------------------------------------------------------------------ files through a file
FILE_READERS = {
    "read_idx": lambda p: mnist.read_idx(p),
    "md5_of": lambda p: mnist.md5_of(p),
    "sha256_of": lambda p: files.sha256_of(p),
    "verify_sha256": lambda p: files.verify_sha256(p, "0" * 64),
    "digest_of": lambda p: files.digest_of(p, __import__("hashlib").md5()),
    "git_blob_id": lambda p: dsprites_official.git_blob_id(p),
}


@pytest.mark.parametrize("kind, words", [("a file as parent", "through"), ("a parent loop", "loops"),
                                          ("256-byte name", "File name too long")])
@pytest.mark.parametrize("reader", list(FILE_READERS))
def test_file_readers_refuse_a_path_through_a_file_or_a_loop(place, reader, kind, words):
    path = BAD[kind][0](place)
    with pytest.raises(ValueError) as caught:
        FILE_READERS[reader](path)
    message = str(caught.value)
    assert words in message and "\n" not in message, message
    assert (str(place / "afile") if kind == "a file as parent" else str(place / "loop")
            if kind == "a parent loop" else "x" * 256) in message


def test_atomic_write_keeps_its_through_a_file_message(place):
    with pytest.raises(ValueError, match=r"^cannot write .*afile/x: expected a path through folders, got one "
                                         r"through .*afile, a file \(afile is a file, not a folder\)$"):
        files.atomic_write(place / "afile" / "x", lambda t: Path(t).write_text("x"))


# ------------------------------------------------------------------------------------------------ data content
def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _dsprites_npz(path: Path, imgs: bytes) -> Path:
    classes = np.zeros((1, 6), np.int64)
    latents = np.array([[FACTOR_VALUES[k][0] for k in range(6)]])
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("latents_classes.npy", _npy(classes))
        archive.writestr("latents_values.npy", _npy(latents))
        archive.writestr("imgs.npy", imgs)
    return path


CUT = b"{'descr': '<u1', 'fortran_order':"


@pytest.mark.parametrize("header", [b"\x93NUMPY\x01\x00" + len(CUT).to_bytes(2, "little") + CUT,
                                    b"\x93NUMPY\x01\x00\x10\x00garbage!!!!!!!!\n", b"\x93NUMPY\x01\x00\x04\x00{'a'"])
def test_a_malformed_npy_header_in_the_dsprites_file_is_one_line(tmp_path, header):
    path = _dsprites_npz(tmp_path / "d.npz", header)
    with pytest.raises(ValueError, match=r"^the dSprites file .*d\.npz: member imgs\.npy has a malformed header") as c:
        dsprites_official.load_official_dsprites(path, expected_blob_id=None)
    assert "\n" not in str(c.value)


def _idx(path: Path, array: np.ndarray) -> Path:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())
    return path


def test_read_idx_refuses_more_dimensions_than_numpy_holds_and_an_overflowing_count(tmp_path):
    many = tmp_path / "many"
    many.write_bytes(bytes([0, 0, 8, 200]) + b"\0" * 800)
    with pytest.raises(ValueError, match=r"many announces a 200-dimensional array .*at most \d+ dimensions"):
        mnist.read_idx(many)
    huge = tmp_path / "huge"
    huge.write_bytes(bytes([0, 0, 8, 3]) + b"\x7f\xff\xff\xff" * 3 + b"\0" * 10)
    with pytest.raises(ValueError, match=r"huge is truncated: .*\(2147483647, 2147483647, 2147483647\), i\.e\. "
                                         r"9903520300447984150353281039 bytes, but the file has 26"):
        mnist.read_idx(huge)
    assert mnist.read_idx(_idx(tmp_path / "ok", np.arange(6).reshape(2, 3))).tolist() == [[0, 1, 2], [3, 4, 5]]


def _mnist_folder(folder: Path, train_labels) -> Path:
    folder.mkdir(exist_ok=True)
    labels = {"train_labels": np.array(train_labels), "test_labels": np.array([3, 4])}
    for key, (name, _, _) in mnist.MNIST_FILES.items():
        _idx(folder / name, labels[key] if key in labels else np.zeros((len(labels[key.replace("images", "labels")]),
                                                                         28, 28)))
    return folder


def test_digit_labels_outside_0_to_9_are_refused_naming_the_file_and_the_first(tmp_path):
    folder = _mnist_folder(tmp_path / "m", [1, 200])
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte: expected digit labels 0-9, got 200 at label 1 "):
        mnist.load_mnist(folder, verify=False)
    good = mnist.load_mnist(_mnist_folder(tmp_path / "g", [1, 9]), verify=False)
    assert good.train_labels.tolist() == [1, 9]
    images = np.zeros((3, 28, 28), np.uint8)
    for bad, shown in ((np.array([1, 10, 2]), "got 10 at label 1"), (np.array([-1, 0, 2]), "got -1 at label 0"),
                       (np.array([0.5, 1, 2]), "dtype float64")):
        path = mnist5k.write_npz(tmp_path / "d.npz", images=images, labels=bad)
        with pytest.raises(ValueError, match=r"d\.npz: expected digit labels .*" + shown):
            mnist5k.read_mnist5k(path, expected_sha256=None)


def test_build_site_of_a_regular_file_is_a_value_error_not_a_build_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match=r"^build_site's root \(the course's folder\) must be a folder, got .*afile, "
                                         r"which is not one \(it is a file\)$") as caught:
        site.build_site(tmp_path / "out", tmp_path / "afile")
    assert not isinstance(caught.value, site.SiteBuildError)
    with pytest.raises(ValueError, match="build_site's root .* does not exist"):
        site.build_site(tmp_path / "out", tmp_path / "absent")


def test_a_file_the_user_named_is_never_advised_to_be_deleted(tmp_path, monkeypatch, capsys):
    with pytest.raises(ValueError, match=r"^/proc/self/status is not a dSprites file: the file system gives it 0 "
                                         r"bytes") as caught:
        dsprites_official.load_official_dsprites("/proc/self/status")
    assert "Delete" not in str(caught.value) and "It is yours" in str(caught.value)
    with pytest.raises(ValueError, match=r"^load_official_dsprites' path ~nosuchuser/x: cannot expand ~nosuchuser, "
                                         r"no such user .*expected the path of a file$"):
        dsprites_official.load_official_dsprites("~nosuchuser/x")
    from vaecourse.cli.main import main
    assert main(["data", "dsprites", "--path", "/proc/self/status"]) != 0
    err = capsys.readouterr().err
    assert "not a dSprites file" in err and "Delete" not in err
    mine = _dsprites_npz(tmp_path / "mine.npz", _npy(np.zeros((1, 64, 64), np.uint8)))
    with pytest.raises(ValueError, match="is not the official dSprites file") as caught:
        dsprites_official.load_official_dsprites(mine)
    assert "Delete" not in str(caught.value) and "It is yours" in str(caught.value)
    cached = tmp_path / "cache" / dsprites_official.OFFICIAL_FILENAME
    cached.parent.mkdir()
    shutil.copy(mine, cached)
    with pytest.raises(ValueError, match=r"is not the official dSprites file.*Delete it \(the course's cache wrote "
                                         r"it\) and load with download=True"):
        dsprites_official.load_official_dsprites(cache_dir=tmp_path / "cache")
    folder = _mnist_folder(tmp_path / "mnist", [1, 2])
    with pytest.raises(ValueError, match="is not the official MNIST file") as caught:
        mnist.load_mnist(folder)
    assert "Delete" not in str(caught.value) and "It is yours" in str(caught.value)
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path))
    with pytest.raises(ValueError, match=r"is not the official MNIST file.*Delete it \(the course's cache wrote it\)"):
        mnist.load_mnist()
