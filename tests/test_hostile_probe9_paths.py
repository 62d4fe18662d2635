"""Ninth probe, paths: atomic_write's parent mkdir is refused in one line naming the path."""
import errno
import re
from pathlib import Path

import pytest

from vaecourse import files


def test_atomic_write_parent_mkdir_failure_is_one_value_error(tmp_path, monkeypatch):
    def refuse(self, *a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))
    monkeypatch.setattr(Path, "mkdir", refuse)
    target = tmp_path / "ro" / "sub" / "new"
    with pytest.raises(ValueError, match=r"^cannot write .*new: Permission denied \(errno EACCES\)"):
        files.atomic_write(target, lambda t: open(t, "w").write("x"))


def test_atomic_write_under_proc_is_one_value_error():
    with pytest.raises(ValueError, match=re.escape("cannot write /proc/self/x/y")):
        files.atomic_write("/proc/self/x/y", lambda t: open(t, "w").write("x"))
