"""download_verified: the one temp-file, verify, rename block both downloaders use (no network: write is local)."""

import hashlib

import pytest

from vaecourse.data.download import download_verified


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


GOOD = b"the published file\n"


def test_success_leaves_exactly_the_destination(tmp_path):
    dest = tmp_path / "cache" / "file.bin"  # the folder is created
    out = download_verified(dest, lambda f: f.write(GOOD), source="mirror/file.bin", digest=sha256,
                            expected=hashlib.sha256(GOOD).hexdigest(), digest_name="SHA-256")
    assert out == dest and dest.read_bytes() == GOOD
    assert [p.name for p in dest.parent.iterdir()] == ["file.bin"]
    # expected=None keeps whatever was written (a file the caller trusts)
    download_verified(dest, lambda f: f.write(b"other"), source="mirror/file.bin")
    assert dest.read_bytes() == b"other" and [p.name for p in dest.parent.iterdir()] == ["file.bin"]


def test_bad_checksum_keeps_no_file_and_no_temporary_file(tmp_path):
    dest = tmp_path / "file.bin"
    expected = hashlib.sha256(GOOD).hexdigest()
    with pytest.raises(ValueError) as err:
        download_verified(dest, lambda f: f.write(b"a truncated file"), source="mirror/file.bin", digest=sha256,
                          expected=expected, digest_name="SHA-256")
    message = str(err.value)
    assert "mirror/file.bin" in message and f"expected SHA-256 {expected}" in message
    assert hashlib.sha256(b"a truncated file").hexdigest() in message and "(16 bytes)" in message
    assert list(tmp_path.iterdir()) == []
    # a file already in place is left as it was
    dest.write_bytes(b"older copy")
    with pytest.raises(ValueError, match="not the expected file"):
        download_verified(dest, lambda f: f.write(b"wrong"), source="m", digest=sha256, expected=expected)
    assert dest.read_bytes() == b"older copy" and [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_a_failing_write_keeps_nothing_and_its_error_comes_through(tmp_path):
    def dropped(out):  # half a file, then the connection drops
        out.write(GOOD[:5])
        raise ConnectionError("connection reset")

    with pytest.raises(ConnectionError, match="connection reset"):
        download_verified(tmp_path / "file.bin", dropped, source="m", digest=sha256, expected="0" * 64)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="without a digest function"):
        download_verified(tmp_path / "file.bin", lambda f: f.write(GOOD), source="m", expected="0" * 64)
    assert list(tmp_path.iterdir()) == []
