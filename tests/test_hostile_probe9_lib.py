"""Ninth probe, library part: say's width cap with numpy ints, choose_threads bounded by MAX_THREADS."""
import numpy as np
import pytest

from vaecourse.prose import say
from vaecourse.threads import choose_threads


def test_say_caps_a_numpy_int_width():
    with pytest.raises(ValueError, match=r"asks for 1,000,000,000 characters"):
        say('{v:>{w}}', v=1, w=np.int64(10**9), show=False)


def test_choose_threads_refuses_more_than_max_threads():
    with pytest.raises(ValueError, match=r"choose_threads' max_threads must be a thread count of at most 4,096"):
        choose_threads(1e30, 1, 10**18)


def test_parse_proc_stat_refuses_a_subnormal_tick_rate():
    from vaecourse.threads import parse_proc_stat
    with pytest.raises(ValueError, match=r"ticks_per_second must be clock ticks per second, a number from 1 to 10\^9"):
        parse_proc_stat('cpu  1 2 3 4 5 6 7 0 0 0\ncpu0 1 2 3 4 5 6 7 0 0 0\n', [0], 5e-324)


@pytest.mark.parametrize("busy", [float("nan"), "1", None])
def test_cpu_reading_refuses_a_field_that_is_not_finite_seconds(busy):
    from vaecourse.threads import CpuReading
    with pytest.raises((ValueError, TypeError), match=r"CpuReading's busy \(finite seconds\) must be"):
        CpuReading(busy, 4., 1., 1)


def test_cpu_reading_refuses_a_tensor_field():
    import torch
    from vaecourse.threads import CpuReading
    with pytest.raises((ValueError, TypeError), match=r"CpuReading's busy .* got a Tensor"):
        CpuReading(torch.tensor([1., 2.]), 4., 1., 1)


@pytest.mark.parametrize("value", [1e30, np.float32(3e38)])
def test_scm_constant_is_bounded_like_do(value):
    from vaecourse.scm import constant
    with pytest.raises(ValueError, match=r"constant's value must be finite real numbers \(not a bool\) at most 1e\+06 in size"):
        constant(value)


@pytest.mark.parametrize("rng", [(-1.7e308, 1.7e308), (0, 1e30)])
def test_scm_ranges_are_bounded_like_do(rng):
    from vaecourse.scm import SCM, Equation
    with pytest.raises(ValueError, match=r"at most .* in size with lo <= hi"):
        SCM({'x': Equation((), lambda v, e: e)}, ranges={'x': rng})


@pytest.mark.parametrize("name", ["", "vae"])
def test_read_refuses_an_unknown_expected_class(tmp_path, name):
    from vaecourse.checkpoints import save, read
    from vaecourse.models.vae import VAE
    path = save(VAE(2, 'mlp', (1, 4, 4)), tmp_path / 'ok.pt')
    with pytest.raises(ValueError, match=r"read's expected_class must be one of \['CausalVAE'"):
        read(path, expected_class=name)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_read_says_cuda_is_not_available(tmp_path):
    from vaecourse.checkpoints import save, read
    from vaecourse.models.vae import VAE
    path = save(VAE(2, 'mlp', (1, 4, 4)), tmp_path / 'ok.pt')
    with pytest.raises(ValueError, match=r"map_location must be a device this machine has, got 'cuda': CUDA is not"):
        read(path, map_location='cuda')
