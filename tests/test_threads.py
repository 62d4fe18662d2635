"""The thread governor (vaecourse/threads.py): /proc/stat arithmetic, the choice, the governor's state, and that
import, fit and IPython apply it. No timing: loads and clocks are fed in."""

import os
import subprocess
import sys
import types

import pytest
import torch

from vaecourse import threads
from vaecourse.threads import CpuReading, ThreadGovernor, busy_elsewhere, choose_threads, parse_proc_stat

STAT = """cpu  1000 0 0 0 0 0 0 0 0 0
cpu0 300 10 40 600 20 5 5 20 7 0
cpu1 100 0 50 850 0 0 0 0 0 0
cpu2 1 1 1 1 1 1 1 1 0 0
intr 12345
"""


def test_proc_stat_sums_the_allowed_cpus_busy_and_total():
    # cpu0: busy 300+10+40+5+5+20 = 380, idle+iowait 620; cpu1: busy 150, idle 850 (guest 7 is inside user)
    assert parse_proc_stat(STAT, [0], 100) == (3.8, 10.0)
    assert parse_proc_stat(STAT, [0, 1], 100) == (5.3, 20.0)
    assert parse_proc_stat(STAT, [1], 50) == (3.0, 20.0)
    assert parse_proc_stat(STAT, [0], 100, count_nice=False) == (3.7, 10.0)  # niced time (10) counts as free


def test_proc_stat_errors_name_what_is_missing():
    with pytest.raises(ValueError, match=r"1 of the CPUs \[0, 7\]"):
        parse_proc_stat(STAT, [0, 7], 100)
    with pytest.raises(ValueError, match="at least 8 counters"):
        parse_proc_stat("cpu0 1 2 3\n", [0], 100)


def test_read_cpu_is_none_without_proc_stat(tmp_path):
    assert threads.read_cpu(str(tmp_path / "missing")) is None


def _reading(busy, total, own, cpus=2):
    return CpuReading(busy=busy, total=total, own=own, cpus=cpus)


def test_busy_elsewhere_subtracts_this_process():
    # 1 s of wall time on 2 CPUs (2 CPU-seconds in total): 1.8 busy, 0.9 of them ours -> 0.9 cores elsewhere
    assert busy_elsewhere(_reading(10, 100, 5), _reading(11.8, 102, 5.9)) == pytest.approx(0.9)
    assert busy_elsewhere(_reading(10, 100, 5), _reading(10, 100, 5)) is None  # no time passed
    assert busy_elsewhere(_reading(10, 100, 5), _reading(10.1, 102, 6)) == 0.0  # own time counted late: clamp
    assert busy_elsewhere(_reading(10, 100, 0), _reading(20, 102, 0)) == 2.0  # never more than the CPUs


@pytest.mark.parametrize("free, current, max_threads, expected", [
    (2.0, 2, 2, 2),   # quiet: every core
    (1.0, 2, 2, 1),   # one busy neighbour: drop one thread
    (1.5, 2, 2, 1),   # half a core taken is already too much for a spinning team
    (1.6, 2, 2, 2),   # inside the dead band: keep
    (1.7, 1, 2, 1),   # inside the dead band: keep
    (1.9, 1, 2, 2),   # the neighbour left: back to two
    (0.0, 2, 2, 1),   # everything busy: still one thread
    (8.0, 1, 4, 4),   # never above the ceiling
    (2.9, 4, 4, 3),
])
def test_choose_threads(free, current, max_threads, expected):
    assert choose_threads(free, current, max_threads) == expected


def test_choose_threads_refuses_nonsense():
    with pytest.raises(ValueError, match="thread counts must be >= 1"):
        choose_threads(1.0, 0, 2)
    with pytest.raises(ValueError, match="finite"):
        choose_threads(float("nan"), 1, 2)


def test_vaecourse_threads_fixes_the_count_or_says_what_it_expected():
    assert threads.fixed_threads({}) is None
    assert threads.fixed_threads({"VAECOURSE_THREADS": "auto"}) is None
    assert threads.fixed_threads({"VAECOURSE_THREADS": " 3 "}) == 3
    with pytest.raises(ValueError, match="VAECOURSE_THREADS='two': expected 'auto' or a whole number from 1 to 4,096"):
        threads.fixed_threads({"VAECOURSE_THREADS": "two"})


class FakeMachine:
    """Two CPUs; ``others`` cores busy elsewhere, this process busy on ``threads`` cores; a clock moved by hand."""

    def __init__(self, threads_now=2, others=0.0):
        self.now, self.threads, self.others = 0.0, threads_now, others
        self.busy = self.total = self.own = 0.0
        self.reads, self.sets = 0, []

    def advance(self, seconds):
        self.now += seconds
        mine = min(self.threads, 2 - self.others)
        self.busy += (self.others + mine) * seconds
        self.own += mine * seconds
        self.total += 2 * seconds

    def read(self):
        self.reads += 1
        return CpuReading(busy=self.busy, total=self.total, own=self.own, cpus=2)

    def set(self, n):
        self.threads = n
        self.sets.append(n)

    def governor(self, environ=None, reader=None):
        return ThreadGovernor(interval=0.5, reader=reader or self.read, clock=lambda: self.now,
                              get_threads=lambda: self.threads, set_threads=self.set, environ=environ or {})


def test_governor_drops_a_thread_under_load_and_takes_it_back_when_quiet():
    machine = FakeMachine(threads_now=2)
    gov = machine.governor()
    assert gov.max_threads == 2
    gov.update(force=True)  # the first reading only
    machine.advance(1.0)
    assert gov.update() == 2 and machine.sets == []  # quiet: keep both
    machine.others = 1.0  # a busy process starts
    machine.advance(1.0)
    assert gov.update() == 1 and machine.sets == [1]
    machine.advance(1.0)
    assert gov.update() == 1 and machine.sets == [1]  # still busy: no call
    machine.others = 0.0
    machine.advance(1.0)
    assert gov.update() == 2 and machine.sets == [1, 2]
    assert [n for _, n in gov.changes] == [1, 2]


def test_governor_reads_the_load_at_most_once_per_interval():
    machine = FakeMachine()
    gov = machine.governor()
    gov.update(force=True)
    for _ in range(4):
        machine.advance(0.25)  # exact in binary floating point
        gov.update()
    assert machine.reads == 1 + 2  # at 0.5 s and at 1.0 s


def test_a_user_thread_setting_becomes_the_ceiling():
    machine = FakeMachine(threads_now=2)
    gov = machine.governor()
    gov.update(force=True)
    machine.threads = 1  # torch.set_num_threads(1) in the learner's code
    machine.advance(1.0)
    assert gov.update() == 1 and gov.max_threads == 1 and machine.sets == []


def test_fixed_count_or_no_proc_stat_leaves_the_threads_alone():
    machine = FakeMachine(threads_now=2, others=1.0)
    gov = machine.governor(environ={"VAECOURSE_THREADS": "2"})
    for _ in range(3):
        machine.advance(1.0)
        gov.update()
    assert machine.sets == [2] and machine.reads == 0
    blind = FakeMachine(threads_now=2, others=1.0)
    gov = blind.governor(reader=lambda: None)
    blind.advance(1.0)
    assert gov.update(force=True) == 2 and not gov.enabled and blind.sets == []


def _loaded_governor(monkeypatch):
    monkeypatch.setattr(threads, "STEP_CHECKS", True)  # conftest turns step checks off in the test process
    machine = FakeMachine(threads_now=2, others=1.0)
    gov = machine.governor()
    gov.update(force=True)
    monkeypatch.setattr(threads, "_GOVERNOR", gov)
    return machine


def test_fit_follows_the_load(monkeypatch):
    import vaecourse  # noqa: F401  (registers the optimiser-step hook)
    from vaecourse.models import VAE
    from vaecourse.objectives import elbo
    from vaecourse.train import fit

    machine = _loaded_governor(monkeypatch)
    torch.manual_seed(0)
    model = VAE(latent_dim=2, encoder="mlp", image_shape=(1, 4, 4))
    fit(model, elbo, (torch.rand(32, 1, 4, 4) > 0.5).float(), steps=2, batch_size=8, device="cpu",
        progress=False, callbacks=[lambda step, model, terms: machine.advance(1.0)])
    assert machine.sets == [1]  # the second step saw one core busy elsewhere


def test_a_hand_written_loop_follows_the_load(monkeypatch):
    import vaecourse  # noqa: F401

    machine = _loaded_governor(monkeypatch)
    weight = torch.zeros(3, requires_grad=True)
    optimizer = torch.optim.SGD([weight], lr=0.1)  # any optimiser: the hook is torch's global step hook
    for _ in range(2):
        machine.advance(1.0)
        (weight - 1).pow(2).sum().backward()
        optimizer.step()
    assert machine.sets == [1]
    monkeypatch.setattr(threads, "STEP_CHECKS", False)
    machine.others = 0.0
    for _ in range(2):
        machine.advance(1.0)
        optimizer.step()
    assert machine.sets == [1]  # switched off: the steps did not look


def test_the_test_process_re_checks_between_tests_only():
    assert threads.STEP_CHECKS is False  # conftest.py: one thread count within a test (exact comparisons)


def test_start_registers_one_pre_run_cell_hook_in_ipython(monkeypatch):
    import IPython

    registered = []
    shell = types.SimpleNamespace(events=types.SimpleNamespace(register=lambda name, fn: registered.append(name)))
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    machine = FakeMachine()
    monkeypatch.setattr(threads, "_GOVERNOR", machine.governor())
    threads.start(settle_seconds=0)
    threads.start(settle_seconds=0)
    assert registered == ["pre_run_cell"]


def _fresh(code, **env):
    clean = {k: v for k, v in os.environ.items() if k not in {"OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS",
                                                              "VAECOURSE_THREADS", "GOMP_SPINCOUNT"}}
    clean.update(env)
    done = subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_import_vaecourse_starts_the_governor_in_a_fresh_process():
    code = ("import vaecourse, torch; from vaecourse import threads; "
            "print(threads._GOVERNOR is not None, torch.get_num_threads())")
    assert _fresh(code, VAECOURSE_THREADS="1") == ["True", "1"]
    assert _fresh(code, OMP_NUM_THREADS="1") == ["True", "1"]  # OMP_NUM_THREADS stays the ceiling
