"""The tenth held-out probe's findings on the exercise checks, as classes (the probe's cases beside new ones): trials
whose inputs sit at one level (a maximum of the whole tensor, a loss kept positive), stops that are no errors
(sys.exit, GeneratorExit, a BaseException of one's own), messages that cannot be read, global settings changed by the
learner's function, learner text echoed unbounded, and named mistakes given for a coincidence on one case."""

from __future__ import annotations

import contextlib
import random
import sys

import numpy as np
import pytest
import torch

from vaecourse import check
from vaecourse.check import core
from vaecourse.check.beta import _beta_loss
from vaecourse.check.ladder import _lme
from vaecourse.metrics.latent_kl import active_latents
from vaecourse.scm import linear_solve

import test_check_think
from test_check_hostile import CHECKS, REFERENCES, run


def failed(name, fn, capsys, *words):
    ok, out = run(name, fn, capsys)
    assert ok is False and out.startswith("❌"), out
    for word in words:
        assert word in out, out
    return out


def passed(name, fn, capsys):
    ok, out = run(name, fn, capsys)
    assert ok is True and out.startswith("✅"), out


# ---------------------------------------------------------------- F1: 4.4, a maximum of the whole tensor
def _around(a, dim, centre):
    return centre + (a - centre).exp().mean(dim=dim).log()


WHOLE = [
    lambda a, dim: _around(a, dim, a.max()),  # the probe's
    lambda a, dim: _around(a, dim, a.max(dim).values.max()),  # the maximum of the maxima: one number again
    lambda a, dim: _around(a, dim, a.detach().max().item()),  # a Python float of it
    lambda a, dim: _around(a, dim, a.amax()),
]


@pytest.mark.parametrize("i", range(len(WHOLE)))
def test_log_mean_exp_with_one_maximum_for_the_whole_tensor_fails(i, capsys):
    failed("log_mean_exp", WHOLE[i], capsys, "whole tensor", "along dim")


def test_log_mean_exp_still_passes_max_along_dim(capsys):
    passed("log_mean_exp", lambda a, dim: (lambda m: (m + (a - m).exp().mean(dim, keepdim=True).log()).squeeze(dim))(
        a.max(dim, keepdim=True).values), capsys)
    passed("log_mean_exp", _lme, capsys)


# ---------------------------------------------------------------- F2: 2.1, a loss kept positive
KEPT = {
    "abs": (lambda l, k, b: (l - b * k).mean().abs(), "absolute value"),  # the probe's
    "relu": (lambda l, k, b: torch.relu(-(l - b * k).mean()), "clamped the loss at 0"),  # the probe's
    "clamp": (lambda l, k, b: (-(l - b * k)).clamp(min=0).mean(), "clamped the loss at 0"),  # the probe's
    "abs_neg": (lambda l, k, b: (-(l - b * k).mean()).abs(), "absolute value"),
    "per_example_abs": (lambda l, k, b: (l - b * k).abs().mean(), "absolute value"),
    "max0": (lambda l, k, b: torch.maximum(-(l - b * k).mean(), torch.zeros((), dtype=l.dtype)), "clamped"),
    "square_root": (lambda l, k, b: ((l - b * k).mean() ** 2).sqrt(), "absolute value"),
}


@pytest.mark.parametrize("name", sorted(KEPT))
def test_beta_vae_loss_kept_positive_fails_with_its_name(name, capsys):
    fn, words = KEPT[name]
    failed("beta_vae_loss", fn, capsys, words, "positive")


def test_beta_vae_loss_still_passes_the_library_and_names_a_flipped_sign(capsys):
    passed("beta_vae_loss", _beta_loss, capsys)
    failed("beta_vae_loss", lambda l, k, b: (l - b * k).mean(), capsys, "sign is flipped")


# ---------------------------------------------------------------- F3: stops that are no errors
class Stop(BaseException):
    pass


def _exit3(*args):
    sys.exit(3)


def _exit_plain(*args):
    exit()  # noqa: F821 -- the builtin a learner types


def _generator_exit(*args):
    raise GeneratorExit


def _own(*args):
    raise Stop("stop here")


def _system_exit_text(*args):
    raise SystemExit("done")


STOPS = {"sys.exit(3)": (_exit3, "sys.exit()"), "exit()": (_exit_plain, "sys.exit()"),
         "SystemExit(text)": (_system_exit_text, "SystemExit: done"),
         "GeneratorExit": (_generator_exit, "GeneratorExit"), "own BaseException": (_own, "Stop: stop here")}


@pytest.mark.parametrize("stop", sorted(STOPS))
@pytest.mark.parametrize("name", CHECKS)
def test_a_stop_in_the_learners_function_is_a_verdict(name, stop, capsys):
    fn, words = STOPS[stop]
    failed(name, fn, capsys, words, "a function returns its result")


def test_keyboard_interrupt_still_passes_through():
    def interrupted(*args):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        check.gaussian_kl(interrupted)


ROT = {"ideal code": {"Higgins": 1.0, "MIG": 0.99}, "rotated": {"Higgins": 0.95, "MIG": 0.08}}


@pytest.mark.parametrize("stop", sorted(STOPS))
def test_a_thinking_check_reports_a_stop(stop, capsys):
    fn, words = STOPS[stop]
    ok = check.predict_rotation(fn, ROT)
    out = capsys.readouterr().out
    assert ok is False and words in out and "Traceback" not in out, out


# ---------------------------------------------------------------- F4: messages that cannot be read
class Unreadable(Exception):
    def __str__(self):
        raise RuntimeError("str fails")


class NotText(Exception):
    def __str__(self):
        return 42  # type: ignore[return-value]


@pytest.mark.parametrize("kind", [Unreadable, NotText])
@pytest.mark.parametrize("name", CHECKS)
def test_an_exception_whose_message_cannot_be_read_is_named_by_its_type(name, kind, capsys):
    def broken(*args):
        raise kind()

    failed(name, broken, capsys, f"your function raised {kind.__name__}")


def test_unreadable_stub_message_is_still_not_done_yet(capsys):
    class Stub(NotImplementedError):
        def __str__(self):
            raise RuntimeError("no")

    def stub(*args):
        raise Stub()

    ok = check.gaussian_kl(stub)
    out = capsys.readouterr().out
    assert ok is False and "not done yet" in out, out


def test_message_of_and_error_text():
    assert core.message_of(Unreadable()) == "" and core.error_text(Unreadable()) == "Unreadable"
    assert core.error_text(ValueError("a\nb")) == "ValueError: a"
    assert core.error_text(ValueError("x" * 500)) == "ValueError: " + "x" * (core.ECHO - 1) + "…"


# ---------------------------------------------------------------- F5: global settings
def _kl(mu, lv):
    return 0.5 * (mu ** 2 + lv.exp() - 1 - lv).sum(-1)


CHANGES = {
    "grad": (lambda: torch.set_grad_enabled(False), "autograd"),
    "dtype": (lambda: torch.set_default_dtype(torch.float64), "default dtype"),
    "threads": (lambda: torch.set_num_threads(torch.get_num_threads() + 1), "number of threads"),
    "deterministic": (lambda: torch.use_deterministic_algorithms(True), "deterministic algorithms"),
    "anomaly": (lambda: torch.set_anomaly_enabled(True), "anomaly detection"),
    "numpy": (lambda: np.seterr(all="raise"), "np.seterr"),
}


def _state():
    return (torch.is_grad_enabled(), torch.get_default_dtype(), torch.get_num_threads(),
            torch.are_deterministic_algorithms_enabled(), torch.is_anomaly_enabled(), np.geterr(),
            torch.random.get_rng_state(), np.random.get_state()[1].tolist(), random.getstate())


def _same_state(a, b):
    return a[:6] == b[:6] and torch.equal(a[6], b[6]) and a[7:] == b[7:]


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_changed_global_setting_is_named_and_set_back(change, capsys):
    setter, words = CHANGES[change]

    def kl(mu, lv):
        setter()
        return _kl(mu, lv)

    before = _state()
    failed("gaussian_kl", kl, capsys, words, "set it back")
    assert _same_state(before, _state())


@pytest.mark.parametrize("name", CHECKS)
def test_every_check_sets_back_what_a_hostile_function_changed(name, capsys):
    def hostile(*args):
        torch.set_grad_enabled(False)
        torch.set_default_dtype(torch.float64)
        np.seterr(all="raise")
        torch.manual_seed(0)
        np.random.seed(0)
        random.seed(0)
        return REFERENCES[name](*args)

    before = _state()
    ok, out = run(name, hostile, capsys)
    assert ok is False and out.startswith("❌"), out
    assert _same_state(before, _state())


def test_the_probes_two_settings_are_both_named(capsys):
    def kl(mu, lv):
        torch.set_grad_enabled(False)
        torch.set_default_dtype(torch.float64)
        return _kl(mu, lv)

    failed("gaussian_kl", kl, capsys, "autograd", "default dtype")
    assert torch.is_grad_enabled() and torch.get_default_dtype() == torch.float32


def test_a_function_that_draws_from_the_global_generator_passes_and_leaves_it(capsys):
    def kl(mu, lv):
        torch.rand(3)  # a draw: allowed, and the notebook's sequence is kept over the check
        return _kl(mu, lv)

    before = _state()
    passed("gaussian_kl", kl, capsys)
    assert _same_state(before, _state())


# ---------------------------------------------------------------- F6: learner text echoed unbounded
def test_a_huge_answer_is_cut_in_the_verdict(capsys):
    ok = check.predict_rotation(lambda: "x" * 10 ** 6, ROT)
    out = capsys.readouterr().out
    assert ok is False and "…" in out and len(out) < 2000, out


@pytest.mark.parametrize("name", CHECKS)
def test_a_huge_exception_message_is_cut(name, capsys):
    def broken(*args):
        raise ValueError("y" * 100_000)

    out = failed(name, broken, capsys, "your function raised ValueError: yyy", "…")
    assert len(out) < 2000, len(out)


def test_a_huge_line_of_code_is_cut(capsys):
    fn = eval("lambda mu, lv: [" + "0, " * 3000 + "][10 ** 9]")  # one line, 9000 characters
    out = failed("gaussian_kl", fn, capsys, "IndexError")
    assert len(out) < 2000, len(out)


def test_echo():
    assert core.echo("short") == "short" and core.echo("a\nb") == "a"
    assert len(core.echo("z" * 10 ** 6)) == core.ECHO and core.echo("z" * 10 ** 6).endswith("…")


# ---------------------------------------------------------------- F7: a named mistake only where it fits every case
def test_causal_layer_truncated_series_is_named_not_a_detach(capsys):
    out = failed("causal_layer", lambda A, e: e + e @ A + e @ A @ A, capsys, "two steps of the chain only",
                 "path of length")
    assert "detach" not in out, out
    out = failed("causal_layer", lambda A, e: e + e @ A + e @ A @ A + e @ A @ A @ A, capsys, "solve the linear system")
    assert "detach" not in out, out
    failed("causal_layer", lambda A, e: e + e @ A, capsys, "one step of the chain only")
    passed("causal_layer", linear_solve, capsys)


def _ranked(score, t):
    order = torch.argsort(score, descending=True)
    return order[score[order] > t]


def test_active_latents_coincidences_are_not_named(capsys):
    out = failed("active_latents", lambda kl, t: _ranked(kl.mean(0), 0.1), capsys, "for each of the thresholds")
    assert "summed" not in out, out
    out = failed("active_latents", lambda kl, t: _ranked(kl[0], t), capsys, "expected")
    assert "median" not in out and "summed" not in out, out
    failed("active_latents", lambda kl, t: _ranked(kl.median(0).values, t), capsys, "median")
    failed("active_latents", lambda kl, t: _ranked(kl.sum(0), t), capsys, "summed")
    passed("active_latents", active_latents, capsys)


DUAL = [  # (a wrong step, words that must not appear)
    (lambda b, kl, e, lr: min(1.0, max(0.0, b + lr * (kl - e))), "start from the old one"),  # the probe's
    (lambda b, kl, e, lr: max(0, b + lr * (kl - e) ** 2), "ignores the step size"),  # the probe's
    (lambda b, kl, e, lr: max(0.0, b + lr * (kl - e)) + (0.5 if kl > e else 0.0), "wrong way"),
    (lambda b, kl, e, lr: max(0.0, min(b + lr * (kl - e), 2.0)), "start from the old one"),
    (lambda b, kl, e, lr: min(10.0, max(0.0, b + lr * (kl - e))), "start from the old one"),  # a cap the sweep found
    (lambda b, kl, e, lr: float(np.clip(b + lr * (kl - e), 0.0, 20.0)), "wrong way"),
]


@pytest.mark.parametrize("i", range(len(DUAL)))
def test_dual_ascent_gives_no_named_mistake_for_a_coincidence(i, capsys):
    fn, wrong_words = DUAL[i]
    out = failed("dual_ascent", fn, capsys, "expected")
    assert wrong_words not in out, out


def test_dual_ascent_still_names_real_mistakes(capsys):
    failed("dual_ascent", lambda b, kl, e, lr: max(0.0, lr * (kl - e)), capsys, "start from the old one")
    failed("dual_ascent", lambda b, kl, e, lr: max(0.0, b + (kl - e)), capsys, "ignores the step size lr")
    failed("dual_ascent", lambda b, kl, e, lr: max(0.0, b - lr * (kl - e)), capsys, "wrong way")
    failed("dual_ascent", lambda b, kl, e, lr: abs(b + lr * (kl - e)), capsys, "absolute value")
    passed("dual_ascent", lambda b, kl, e, lr: max(0.0, b + lr * (kl - e)), capsys)


def test_capacity_schedule_names_only_what_fits_every_case(capsys):
    out = failed("capacity_schedule", lambda s, c, n: c * max(s / n, 1), capsys, "expected")  # the probe's
    assert "backwards" not in out, out
    out = failed("capacity_schedule", lambda s, c, n: c * (1 - min(s / n, 1)) if s else c * 0.5, capsys, "expected")
    assert "backwards" not in out, out
    failed("capacity_schedule", lambda s, c, n: c * (1 - min(s / n, 1)), capsys, "backwards")
    failed("capacity_schedule", lambda s, c, n: c * s / n, capsys, "kept growing")
    failed("capacity_schedule", lambda s, c, n: min(s / n, 1), capsys, "fraction")
    passed("capacity_schedule", lambda s, c, n: c * min(s / n, 1.0), capsys)


# ---------------------------------------------------------------- the library's answers still pass everywhere
@pytest.mark.parametrize("name", CHECKS)
def test_the_librarys_answer_still_passes_and_leaves_the_state(name, capsys):
    before = _state()
    passed(name, REFERENCES[name], capsys)
    assert _same_state(before, _state())


# ---------------------------------------------------------------- the same blind spot in other checks (a sweep of
# caps, clips and sign changes over every check's reference): the ones that passed before
def _gaps(mi, h):
    top = np.sort(mi, axis=0)[::-1]
    return (top[0] - top[1]) / h


@pytest.mark.parametrize("cap", [0.5, 0.8])
def test_mig_capped_below_one_fails_on_a_sharply_disentangled_code(cap, capsys):
    failed("mig_normalisation", lambda mi, h: float(np.mean(np.clip(_gaps(mi, h), 0.0, cap))), capsys, "expected")
    passed("mig_normalisation", lambda mi, h: float(np.mean(_gaps(mi, h))), capsys)


def test_dual_ascent_capped_beta_fails(capsys):
    failed("dual_ascent", lambda b, kl, e, lr: min(10.0, max(0.0, b + lr * (kl - e))), capsys, "no upper bound")


def test_settings_are_set_back_when_the_function_also_raises(capsys):
    def kl(mu, lv):
        torch.set_grad_enabled(False)
        raise ValueError("after changing autograd")

    before = _state()
    failed("gaussian_kl", kl, capsys, "your function raised ValueError: after changing autograd")
    assert _same_state(before, _state())


def test_a_check_run_under_no_grad_leaves_no_grad_on(capsys):
    with torch.no_grad():
        check.gaussian_kl(REFERENCES["gaussian_kl"])
        assert not torch.is_grad_enabled()
    capsys.readouterr()
    assert torch.is_grad_enabled()


# ---------------------------------------------------------------- F11: a size typed in as a cap, caught every time
CAPS = {  # check -> a function right only up to a round size between the base and the top of the fresh sizes
    "unit_activity": lambda m: m[:100].var(dim=0),  # the probe's four
    "z_diff": lambda z1, z2: (z1[:32] - z2[:32]).abs().mean(0),
    "gaussian_kl": lambda mu, lv: 0.5 * (mu[..., :6] ** 2 + lv[..., :6].exp() - 1 - lv[..., :6]).sum(-1),
    "beta_vae_loss": lambda l, k, b: -(l[:8] - b * k[:8]).mean(),
    "reparameterize": lambda mu, lv, eps: (mu + (0.5 * lv).exp() * eps)[:64],
    "precision_weighted_merge": lambda *args: tuple(t[:, :8] for t in REFERENCES["precision_weighted_merge"](*args)),
    "log_mean_exp": lambda a, dim: _lme(a[:64] if dim == 0 else a[:, :64], dim),
}


@pytest.mark.parametrize("name", sorted(CAPS))
def test_a_capped_size_fails_every_time(name, capsys):
    passes = 0
    for _ in range(20):
        ok, out = run(name, CAPS[name], capsys)
        passes += ok
        assert ok or "but not for" in out, out
    assert passes == 0


def test_fresh_sizes_start_at_the_top_of_every_range():
    for _ in range(5):
        top, below = core.fresh_sizes({"B": 5, "D": 3}, {"B": (2, 128), "D": (2, 9)}, 2)
        assert top == {"B": 128, "D": 9} and below["B"] < 5 and below["D"] < 3
    top, = core.fresh_sizes({"B": 4, "H": 28, "W": 28}, {"B": (2, 128), "H": (5, 12), "W": (5, 12)}, 1)
    assert top == {"B": 128, "H": 12, "W": 11}  # two tops would coincide: the next size down keeps them apart
    top, other = core.fresh_sizes({"K": 4}, {"K": (4, 8)}, 2)
    assert top == {"K": 8} and other != top and other["K"] != 4


# ---------------------------------------------------------------- F13/F14: the notebook's torch state, not the check's
@contextlib.contextmanager
def _grad_off():
    torch.set_grad_enabled(False)
    try:
        yield
    finally:
        torch.set_grad_enabled(True)


@contextlib.contextmanager
def _default_meta():
    torch.set_default_device("meta")
    try:
        yield
    finally:
        torch.set_default_device(None)


AMBIENT = {"no_grad": torch.no_grad, "inference_mode": torch.inference_mode, "set_grad_enabled_False": _grad_off,
           "set_default_device_meta": _default_meta, "device_block_meta": lambda: torch.device("meta")}


@pytest.mark.parametrize("ambient", sorted(AMBIENT))
@pytest.mark.parametrize("name", CHECKS)
def test_the_librarys_answer_passes_whatever_the_notebooks_torch_state(name, ambient, capsys):
    with AMBIENT[ambient]():
        state = (torch.is_grad_enabled(), torch.is_inference_mode_enabled(), torch.get_default_device())
        passed(name, REFERENCES[name], capsys)
        assert (torch.is_grad_enabled(), torch.is_inference_mode_enabled(), torch.get_default_device()) == state
    assert torch.is_grad_enabled() and torch.get_default_device().type == "cpu"


def test_a_wrong_answer_still_fails_under_no_grad_and_a_meta_default(capsys):
    with torch.no_grad(), _default_meta():
        failed("gaussian_kl", lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() - lv).sum(-1), capsys, "expected")
        failed("gaussian_kl", lambda mu, lv: REFERENCES["gaussian_kl"](mu.detach(), lv.detach()), capsys,
               "no gradient")


def test_a_learner_setting_the_default_device_inside_is_set_back(capsys):
    def kl(mu, lv):
        torch.set_default_device("meta")
        return REFERENCES["gaussian_kl"](mu, lv)

    failed("gaussian_kl", kl, capsys, "the default device")
    assert torch.get_default_device().type == "cpu"


# ---------------------------------------------------------------- tolerances: a float32-correct answer is right
def test_log_mean_exp_with_a_float32_log_n_passes(capsys):
    passed("log_mean_exp", lambda a, dim: torch.logsumexp(a, dim) - torch.log(torch.tensor(a.shape[dim])), capsys)
    failed("log_mean_exp", lambda a, dim: torch.logsumexp(a, dim) - np.log(a.shape[dim] - 1), capsys, "expected")
    failed("log_mean_exp", lambda a, dim: _lme(a, dim) + 1e-4, capsys, "off by")


def _in_float32(reference):
    def f(*args):
        return reference(*(a.float() if isinstance(a, torch.Tensor) and a.dtype == torch.float64 else a
                           for a in args))
    return f


@pytest.mark.parametrize("name", CHECKS)
def test_the_librarys_answer_computed_in_float32_passes(name, capsys):
    passed(name, _in_float32(REFERENCES[name]), capsys)


def test_close_allows_float32_rounding_of_the_largest_value_of_a_solved_result():
    ref = torch.tensor([45.0, 0.0], dtype=torch.float64)
    off = ref + torch.tensor([0.0, 2e-5], dtype=torch.float64)
    assert core.close(off, ref, scale=ref) and core.close(off[1:], ref[1:], scale=ref)  # 45 * 1e-6 + 1e-6
    assert not core.close(off, ref)  # elementwise results: the near-zero entry is held to atol
    assert not core.close(ref + torch.tensor([0.0, 1e-4], dtype=torch.float64), ref, scale=ref)


# ---------------------------------------------------------------- F7's class in 4.2: shapes named on every warm-up
def test_warmup_late_ramp_is_not_called_a_jump(capsys):
    out = failed("warmup_weight", lambda e, n: 1.0 if n == 0 else min(1.0, max(0.0, (e - n / 2) / (n / 2))), capsys,
                 "you return")
    assert "jumps" not in out
    failed("warmup_weight", lambda e, n: 1.0 if n == 0 else float(e >= n), capsys, "jumps from 0 to 1")
    failed("warmup_weight", lambda e, n: 1.0 if n == 0 else 1 - min(1.0, e / n), capsys, "falls from 1 to 0")
    out = failed("warmup_weight", lambda e, n: 1.0 if n == 0 else (0.0 if e <= 100 else min(1.0, e / n)), capsys,
                 "you return")
    assert "jumps" not in out and "falls" not in out


@pytest.mark.parametrize("ambient", ["no_grad", "inference_mode", "set_default_device_meta"])
@pytest.mark.parametrize("name", sorted(test_check_think.CASES))
def test_a_thinking_check_passes_its_right_answer_whatever_the_notebooks_torch_state(name, ambient, capsys):
    fn, args, kwargs = test_check_think.CASES[name]
    with AMBIENT[ambient]():
        assert getattr(check, name)(fn, *args, **kwargs) is True
    assert capsys.readouterr().out.startswith("✅")


def test_a_fragile_formulas_value_that_is_right_is_no_mistake():
    want = torch.tensor([1.0, 2.0], dtype=torch.float64)
    rules = core.float32_rules("r", want, "somewhere", "why", wrong=[(want.clone(), "you subtracted the MEAN")])
    assert core.verdict(want.float(), rules) is None  # the right answer, though the fragile formula gives it here
    rules = core.float32_rules("r", want, "somewhere", "why", wrong=[(want + 1, "you subtracted the MEAN")])
    assert core.verdict(want.float() + 1, rules) == "you subtracted the MEAN"


def test_log_mean_exp_passes_at_few_samples(capsys, monkeypatch):  # S=5: the mean-centred formula is right there
    import vaecourse.check.ladder as ladder
    monkeypatch.setattr(ladder, "across_sizes", lambda build, base, ranges, **kw: core.across_sizes(
        build, base, {k: (v, v) for k, v in {"S": 5, "B": 2}.items()}, **kw))
    for _ in range(20):
        passed("log_mean_exp", _lme, capsys)
