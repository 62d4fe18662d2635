"""MNIST IDX loader (on tiny IDX files written here), dynamic binarisation (the shipped digits: test_mnist5k.py)."""

import gzip
import hashlib

import numpy as np
import pytest
import torch

from vaecourse.data import mnist
from vaecourse.data.download import DownloadError
from vaecourse.data.mnist import MNIST_FILES, dynamic_binarize, load_digit_images, load_mnist, read_idx


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _tiny_arrays(n_train=5, n_test=3, seed=0):
    rng = np.random.default_rng(seed)
    return {"train_images": rng.integers(0, 256, (n_train, 28, 28)), "train_labels": rng.integers(0, 10, n_train),
            "test_images": rng.integers(0, 256, (n_test, 28, 28)), "test_labels": rng.integers(0, 10, n_test)}


def _write_tiny(folder, arrays):
    folder.mkdir(parents=True, exist_ok=True)
    for key, (name, _, _) in MNIST_FILES.items():
        (folder / name).write_bytes(_idx_bytes(arrays[key]))


def test_read_idx_round_trip(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a").write_bytes(_idx_bytes(a))
    np.testing.assert_array_equal(read_idx(tmp_path / "a", expected_dims=3), a)


@pytest.mark.parametrize("damage, message", [
    (lambda b: b"\x1f\x8b" + b[2:], "magic number 0x1f8b"),  # a gzip header: still compressed
    (lambda b: b[:2] + b"\x0d" + b[3:], "magic number 0x00000d03"),  # float elements, not unsigned bytes
    (lambda b: b[:-5], "truncated"),
    (lambda b: b[:10], "truncated"),
    (lambda b: b + b"\x00", "longer than its header"),
    (lambda b: b[:3], "not even the 4-byte magic"),
])
def test_read_idx_refuses_damaged_files(tmp_path, damage, message):
    (tmp_path / "f").write_bytes(damage(_idx_bytes(np.zeros((2, 3, 4), np.uint8))))
    with pytest.raises(ValueError, match=message):
        read_idx(tmp_path / "f")


def test_read_idx_refuses_the_wrong_number_of_dimensions(tmp_path):
    (tmp_path / "labels").write_bytes(_idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(ValueError, match="1-dimensional array .* expected 3 dimensions"):
        read_idx(tmp_path / "labels", expected_dims=3)


def test_load_mnist_from_tiny_files(tmp_path):
    arrays = _tiny_arrays()
    _write_tiny(tmp_path, arrays)
    data = load_mnist(tmp_path, verify=False)
    assert data.train.shape == (5, 1, 28, 28) and data.test.shape == (3, 1, 28, 28)
    assert data.train.dtype == torch.float32 and 0 <= data.train.min() and data.train.max() <= 1
    torch.testing.assert_close(data.train[:, 0] * 255, torch.from_numpy(arrays["train_images"]).float())
    assert data.test_labels.tolist() == arrays["test_labels"].tolist()
    # the published MD5s are checked by default: these tiny files are not MNIST
    with pytest.raises(ValueError, match="not the official MNIST file: MD5"):
        load_mnist(tmp_path)


def test_load_mnist_refuses_mismatched_counts_and_missing_files(tmp_path):
    arrays = _tiny_arrays()
    arrays["train_labels"] = arrays["train_labels"][:4]
    _write_tiny(tmp_path, arrays)
    with pytest.raises(ValueError, match="5 images but 4 labels"):
        load_mnist(tmp_path, verify=False)
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_mnist(tmp_path / "empty")


def test_download_is_verified_and_atomic(tmp_path, monkeypatch):
    arrays = _tiny_arrays()
    blobs = {name: _idx_bytes(arrays[key]) for key, (name, _, _) in MNIST_FILES.items()}

    def fake_fetch(url, out):  # serves FILE.gz from memory instead of the network
        out.write(gzip.compress(blobs[url.rsplit("/", 1)[1][:-3]]))

    monkeypatch.setattr(mnist, "_fetch", fake_fetch)
    # against the official MD5s the tiny files fail: an error, and nothing is left in the folder
    with pytest.raises(DownloadError, match="could not download a verified"):
        load_mnist(tmp_path / "cache", download=True)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []
    # with MD5s that match, the files are decompressed, verified and kept
    tiny = {key: (name, hashlib.md5(blobs[name]).hexdigest(), nd) for key, (name, _, nd) in MNIST_FILES.items()}
    monkeypatch.setattr(mnist, "MNIST_FILES", tiny)
    data = load_mnist(tmp_path / "cache", download=True)
    assert len(data.train) == 5 and sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(blobs)
    assert load_digit_images("auto", tmp_path / "cache").source.startswith("MNIST")


def test_unknown_digit_source():
    with pytest.raises(ValueError, match="unknown digit source 'cifar': expected 'mnist', 'mnist5k'"):
        load_digit_images("cifar")


def test_dynamic_binarisation_is_fresh_each_time_and_unbiased():
    grey = torch.full((200, 1, 28, 28), 0.3)
    g = torch.Generator().manual_seed(0)
    a, b = dynamic_binarize(grey, g), dynamic_binarize(grey, g)
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(a, b)
    assert abs(a.mean().item() - 0.3) < 0.01
    with pytest.raises(ValueError, match="floating point"):
        dynamic_binarize(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
