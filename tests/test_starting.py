"""``python -m vaecourse`` while Python is still loading the course: a Ctrl-C there is one line, not a traceback
(issue 25; ``vaecourse/_starting.py``).

The moments are read from the process itself, not from a clock: a fixed delay lands anywhere from Python's own
start-up (before any of the course's code runs, where nothing of ours can answer) to the training on a loaded
machine. ``/proc/PID/maps`` says which shared libraries the process has loaded so far; numpy's and torch's are
loaded by the imports the package's handler covers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ["train", "--steps", "100000", "--encoder", "conv32", "--image-size", "32", "--latent-dim", "3",
         "--batch-size", "4", "--no-progress", "--device", "cpu"]


def wait_until_loaded(process: subprocess.Popen, library: str, limit: float = 60.0) -> bool:
    """Poll the process's memory map until ``library`` appears in it (True) or the process ends (False)."""
    maps = Path(f"/proc/{process.pid}/maps")
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if library in maps.read_text():
                return True
        except OSError:  # the process is ending
            return False
        time.sleep(0.002)
    return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/PID/maps (Linux)")
@pytest.mark.parametrize("moment", ["numpy loading", "torch loading", "one second in"])
def test_ctrl_c_while_python_imports_the_course_is_one_line(tmp_path, moment):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "vaecourse", *TRAIN, "--out", str(tmp_path / "x.pt")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        if moment == "one second in":
            time.sleep(1.0)
        else:
            library = "_multiarray_umath" if moment == "numpy loading" else "libtorch"
            assert wait_until_loaded(process, library), f"{library} never loaded"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert process.returncode == 130 and err.startswith("interrupted"), (process.returncode, err)
    assert not (tmp_path / "x.pt").exists() or moment == "one second in"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/PID/maps (Linux)")
@pytest.mark.parametrize("name, status, words", [("SIGTERM", 143, "terminated (SIGTERM) while starting"),
                                                 ("SIGHUP", 129, "hung up (SIGHUP) while starting")])
def test_sigterm_and_sighup_while_python_imports_the_course_are_one_line(tmp_path, name, status, words):
    """A batch scheduler's time limit or a closed terminal in the first second or two ended the process silently,
    by the signal; now as Ctrl-C is: one line, status 128 + N, nothing written."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "vaecourse", *TRAIN, "--out", str(tmp_path / "x.pt")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               preexec_fn=lambda: signal.signal(getattr(signal, name), signal.SIG_DFL))
    try:
        assert wait_until_loaded(process, "libtorch"), "libtorch never loaded"
        process.send_signal(getattr(signal, name))
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert "Traceback" not in err and err.strip().splitlines() == [f"{words}; nothing was written"], err
    assert process.returncode == status and not (tmp_path / "x.pt").exists()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/PID/maps (Linux)")
@pytest.mark.parametrize("first, second", [("SIGTERM", "SIGTERM"), ("SIGINT", "SIGTERM"), ("SIGHUP", "SIGINT")])
def test_two_signals_while_starting_are_one_line(tmp_path, first, second):
    """A second signal landing while the first one's line is written wrote the line again (probe 10: TERM, TERM)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "vaecourse", *TRAIN, "--out", str(tmp_path / "x.pt")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               preexec_fn=lambda: [signal.signal(getattr(signal, n), signal.SIG_DFL)
                                                   for n in ("SIGINT", "SIGTERM", "SIGHUP")])
    try:
        assert wait_until_loaded(process, "libtorch"), "libtorch never loaded"
        process.send_signal(getattr(signal, first))
        process.send_signal(getattr(signal, second))
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "while starting" in err, err
    assert process.returncode == 128 + getattr(signal, first) and not (tmp_path / "x.pt").exists()


def test_the_starting_handler_ignores_further_signals_before_it_writes(monkeypatch):
    """What makes the one line above deterministic: the first signal's handler ignores the others before writing."""
    from vaecourse import _starting
    seen = {}

    class Exited(Exception):
        pass

    def exit_now(status):
        seen["status"] = status
        seen["handlers"] = {s: signal.getsignal(s) for s in _starting._ours()}
        raise Exited

    previous = {s: signal.getsignal(s) for s in _starting._ours()}
    monkeypatch.setattr(_starting.os, "_exit", exit_now)
    try:
        with pytest.raises(Exited):
            _starting._exit_at_once(signal.SIGTERM, None)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    assert seen["status"] == 143 and set(seen["handlers"].values()) == {signal.SIG_IGN}


def test_after_an_interrupt_further_signals_wait_until_main_returns_and_main_puts_every_handler_back(monkeypatch):
    """A third Ctrl-C (pressed three times) landed while main put the handlers back: a KeyboardInterrupt traceback
    after the one line (probe 10). Once the line is written the command is over; the caller's handlers come back."""
    import importlib
    cli_main = importlib.import_module("vaecourse.cli.main")
    _SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    seen = {}

    def interrupted_command(argv):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as err:
            status = cli_main._interrupted(err, "; every file written so far is complete")
            seen.update({s: signal.getsignal(s) for s in _SIGNALS})
            return status

    monkeypatch.setattr(cli_main, "_main", interrupted_command)
    before = {s: signal.getsignal(s) for s in _SIGNALS}
    assert cli_main.main([]) == 130
    assert set(seen.values()) == {signal.SIG_IGN}
    assert {s: signal.getsignal(s) for s in _SIGNALS} == before


@pytest.mark.slow
def test_ctrl_c_pressed_three_times_during_train_is_one_line(tmp_path):
    out = tmp_path / "x.pt"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    process = subprocess.Popen([sys.executable, "-m", "vaecourse", *TRAIN[:3], "--encoder", "mlp28", "--dataset",
                                "digits", "--latent-dim", "4", "--batch-size", "32", "--checkpoint-every", "1",
                                "--no-progress", "--device", "cpu", "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not out.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        time.sleep(0.3)
        for _ in range(3):
            process.send_signal(signal.SIGINT)
            time.sleep(0.01)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert process.returncode == 130
    from vaecourse import checkpoints
    assert checkpoints.read(out).extra  # the run's last checkpoint is whole
