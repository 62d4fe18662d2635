"""Shared by the exercise-check tests (tests/test_check*.py): run a check and capture the verdict it prints."""

from vaecourse import check


def verdict(name, fn, capsys):
    """``(returned, printed)`` for ``check.<name>(fn)``: a check prints one verdict and returns True/False."""
    ok = getattr(check, name)(fn)
    return ok, capsys.readouterr().out
