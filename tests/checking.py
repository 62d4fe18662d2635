"""Shared by the exercise-check tests (tests/test_check*.py): run a check and capture the verdict it prints."""

from vaecourse import check


def verdict(name, fn, capsys):
    """``(returned, printed)`` for ``check.<name>(fn)``: a check prints one verdict and returns True/False."""
    ok = getattr(check, name)(fn)
    return ok, capsys.readouterr().out


def class_cases(classes):
    """``argvalues`` and ``ids`` for ``parametrize("kind, name, fn, message", **class_cases(CLASSES))``, from a
    file's ``CLASSES``: {class of wrong code: [(check, wrong learner function, words its verdict must contain)]}
    (issue 24)."""
    cases = [(kind, *case) for kind, group in classes.items() for case in group]
    return {"argvalues": cases, "ids": [f"{case[0]}-{case[1]}-{i}" for i, case in enumerate(cases)]}


def assert_caught(name, fn, message, capsys):
    """The wrong ``fn`` gets a False, one short verdict (no traceback) that contains ``message``."""
    ok, out = verdict(name, fn, capsys)
    assert ok is False and out.startswith("❌"), out
    assert message in out, out
    assert out.count("\n") <= 3 and "Traceback" not in out, out


def assert_precise(name, fn, capsys):
    """A function off by a hair fails, and its verdict prints the two numbers so that they differ."""
    import re

    ok, out = verdict(name, fn, capsys)
    found = re.search(r"you return (\S+), expected (\S+) \(off by", out)
    assert not ok and found and found.group(1) != found.group(2), out
