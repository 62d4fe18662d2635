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
