"""Sample quality as a number: classifier-FID, classifier-KID and an inception-style score.

The Inception network of the usual FID / Inception Score is far too slow for a laptop CPU and was trained on
photographs, not digits. We use the same formulas on a small CNN trained on the data set itself (a common
practice for MNIST-like data): its penultimate layer (64 ReLU units) gives the features for FID and KID, its
softmax gives the class probabilities for the inception score. The weights are committed in ``data/``
(``classifier_mnist.weights.h5``, ``classifier_fashion_mnist.weights.h5``) and remade by
``benchmarks/train_classifiers.py``.

Every number comes with its *real floor*: the same metric between two disjoint halves of the real images,
each as large as the sample set. FID and KID are biased upwards for small sets, so a score is only meaningful
next to that floor ("FID 12.3 (real 1.1)"). In one line from a notebook::

    from course.metrics import score_samples
    print(score_samples(G(noise), dataset="mnist"))

Functions taking images accept (N, 784), (N, 28, 28) or (N, 28, 28, 1) in [0, 1] or [-1, 1]
(``value_range=None`` detects [-1, 1] from negative values).
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import linalg

#: Data sets that have a committed classifier.
DATASETS = ("mnist", "fashion_mnist")
#: Penultimate feature size of the classifier.
FEATURE_DIM = 64
#: Environment variable naming another folder with the classifier weights.
WEIGHTS_DIR_ENV = "GAN_COURSE_CLASSIFIER_DIR"
#: Most real images used as the reference (two halves of at most this / 2 each).
MAX_REAL = 10000

_MODELS: dict = {}
_REAL_CACHE: dict = {}


def weights_path(dataset: str) -> Path:
    """Path of the committed weights of the classifier for ``dataset``."""
    _check_dataset(dataset)
    folder = os.environ.get(WEIGHTS_DIR_ENV)
    root = Path(folder) if folder else Path(__file__).resolve().parent.parent / "data"
    return root / f"classifier_{dataset}.weights.h5"


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")


def build_classifier():
    """The small CNN (40,394 parameters) used for every metric; logits output, features named 'features'.

    Inputs: none. Returns: an uncompiled Keras model (N, 28, 28, 1) in [0, 1] -> (N, 10) logits.
    """
    import keras
    from keras import layers

    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = layers.MaxPool2D(2)(x)  # 14
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.MaxPool2D(2)(x)  # 7
    x = layers.Conv2D(64, 3, activation="relu")(x)  # 5
    x = layers.MaxPool2D(2)(x)  # 2
    x = layers.Flatten()(x)  # 256
    features = layers.Dense(FEATURE_DIM, activation="relu", name="features")(x)
    x = layers.Dropout(0.3)(features)
    logits = layers.Dense(10, name="logits")(x)
    return keras.Model(inputs, logits, name="classifier")


def _feature_model(dataset: str):
    """(classifier, model returning [features, probabilities]); weights loaded once and cached."""
    if dataset in _MODELS:
        return _MODELS[dataset]
    import keras

    path = weights_path(dataset)
    if not path.exists():
        raise FileNotFoundError(f"classifier weights for {dataset} not found at {path}; "
                                "remake them with `python -m benchmarks.train_classifiers`")
    classifier = build_classifier()
    classifier.load_weights(path)
    probabilities = keras.layers.Softmax()(classifier.output)
    both = keras.Model(classifier.input, [classifier.get_layer("features").output, probabilities])
    _MODELS[dataset] = (classifier, both)
    return _MODELS[dataset]


def as_unit_images(images, value_range=None) -> np.ndarray:
    """Images as float32 (N, 28, 28, 1) in [0, 1].

    Inputs: images (N, 784), (N, 28, 28) or (N, 28, 28, 1), tensor or array; value_range (0, 1), (-1, 1)
    or None (then [-1, 1] when any value is below -0.01).
    """
    array = np.asarray(images, dtype=np.float32)
    if array.ndim == 2 and array.shape[1] == 784 or array.ndim == 3 and array.shape[1:] == (28, 28) \
            or array.ndim == 4 and array.shape[1:] == (28, 28, 1):
        array = array.reshape(-1, 28, 28, 1)
    else:
        raise ValueError(f"images must be (N, 784), (N, 28, 28) or (N, 28, 28, 1); got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("images contain NaN or infinite values")
    if value_range is None:
        value_range = (-1.0, 1.0) if array.size and array.min() < -0.01 else (0.0, 1.0)
    low, high = (float(v) for v in value_range)
    return np.clip((array - low) / (high - low), 0.0, 1.0)


def features_and_probabilities(images, dataset="mnist", value_range=None, batch_size=500):
    """Penultimate features (N, 64) float64 and class probabilities (N, 10) float64 of the classifier."""
    _check_dataset(dataset)
    _, both = _feature_model(dataset)
    unit = as_unit_images(images, value_range)
    features, probabilities = [], []
    for begin in range(0, len(unit), batch_size):
        f, p = both(unit[begin:begin + batch_size], training=False)
        features.append(np.asarray(f, dtype=np.float64))
        probabilities.append(np.asarray(p, dtype=np.float64))
    if not features:
        return np.zeros((0, FEATURE_DIM)), np.zeros((0, 10))
    return np.concatenate(features), np.concatenate(probabilities)


def classify(images, dataset="mnist", value_range=None) -> np.ndarray:
    """Predicted class (N,) int of each image."""
    return np.argmax(features_and_probabilities(images, dataset, value_range)[1], axis=1)


# ---------------------------------------------------------------------------------------------------------
# The formulas, on features / probabilities (NumPy; usable with any feature extractor)

def frechet_distance(features_a, features_b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, D): the FID formula.

    ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).
    """
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("need at least two feature vectors in each set")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    # Tr((S_a S_b)^(1/2)) = sum of sqrt(eigenvalues of S_a^(1/2) S_b S_a^(1/2)), a symmetric PSD matrix: stable
    # also when the covariances are singular (collapsed samples).
    values, vectors = linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    trace_root = float(np.sum(np.sqrt(np.clip(linalg.eigvalsh(root_a @ cov_b @ root_a), 0.0, None))))
    value = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root)
    return max(value, 0.0)


def kernel_distance(features_a, features_b, num_subsets=10, subset_size=1000, seed=0) -> float:
    """Kernel Inception Distance formula: unbiased MMD^2 with the kernel (x.y / D + 1)^3, mean over subsets."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise ValueError("need at least two feature vectors in each set")
    dim = a.shape[1]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(num_subsets):
        x = a[rng.choice(len(a), size, replace=False)]
        y = b[rng.choice(len(b), size, replace=False)]
        k_xx = (x @ x.T / dim + 1.0) ** 3
        k_yy = (y @ y.T / dim + 1.0) ** 3
        k_xy = (x @ y.T / dim + 1.0) ** 3
        off = size * (size - 1)
        values.append((k_xx.sum() - np.trace(k_xx)) / off + (k_yy.sum() - np.trace(k_yy)) / off
                      - 2.0 * k_xy.mean())
    return float(np.mean(values))


def inception_score_from_probabilities(probabilities, eps=1e-12) -> float:
    """exp(E_x KL(p(y|x) || p(y))): 1 for one class (or uniform predictions), up to the number of classes."""
    p = np.asarray(probabilities, np.float64)
    marginal = p.mean(axis=0, keepdims=True)
    kl = np.sum(p * (np.log(p + eps) - np.log(marginal + eps)), axis=1)
    return float(np.exp(kl.mean()))


# ---------------------------------------------------------------------------------------------------------
# On images, with the committed classifiers

def _real_images(dataset: str, with_labels: bool = False):
    """Real images of the data set (at most MAX_REAL, shuffled with seed 0), as (N, 28, 28, 1) in [0, 1]
    (and their labels (N,) when with_labels)."""
    from course import data

    loader = {"mnist": data.load_mnist, "fashion_mnist": data.load_fashion_mnist}[dataset]
    try:
        images, labels = loader(value_range=(0.0, 1.0), seed=0)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"the real {dataset} images are missing, so there is no reference to score "
                                f"samples against: {error}") from None
    images = images[:MAX_REAL].reshape(-1, 28, 28, 1)
    return (images, labels[:MAX_REAL]) if with_labels else images


def _real_features(dataset: str):
    if dataset not in _REAL_CACHE:
        _REAL_CACHE[dataset] = features_and_probabilities(_real_images(dataset), dataset, (0.0, 1.0))
    return _REAL_CACHE[dataset]


def _real_halves(dataset: str, size: int | None):
    """Two disjoint halves (features, probabilities) of the real reference, each of `size` rows."""
    features, probabilities = _real_features(dataset)
    half = len(features) // 2
    size = half if size is None else min(size, half)
    return (features[:size], probabilities[:size]), (features[half:half + size], probabilities[half:half + size])


def classifier_fid(samples, real=None, dataset="mnist", value_range=None) -> float:
    """FID between samples and real images on the classifier's penultimate features.

    Inputs: samples (N, ...) images; real, images to compare with (default: the data set's real images);
    dataset, which classifier. Returns: a float >= 0 (0 for identical sets).
    """
    sample_features = features_and_probabilities(samples, dataset, value_range)[0]
    if real is None:
        real_features = _real_halves(dataset, len(sample_features))[0][0]
    else:
        real_features = features_and_probabilities(real, dataset, value_range)[0]
    return frechet_distance(sample_features, real_features)


def classifier_kid(samples, real=None, dataset="mnist", value_range=None, seed=0) -> float:
    """KID (unbiased MMD^2, cubic polynomial kernel) between samples and real images on the classifier features."""
    sample_features = features_and_probabilities(samples, dataset, value_range)[0]
    if real is None:
        real_features = _real_halves(dataset, len(sample_features))[0][0]
    else:
        real_features = features_and_probabilities(real, dataset, value_range)[0]
    return kernel_distance(sample_features, real_features, seed=seed)


def classifier_inception_score(samples, dataset="mnist", value_range=None) -> float:
    """Inception-style score exp(E KL(p(y|x) || p(y))) with the classifier's probabilities (1 .. 10)."""
    return inception_score_from_probabilities(features_and_probabilities(samples, dataset, value_range)[1])


@dataclass(frozen=True)
class Score:
    """Quality of a sample set next to the real floor (two disjoint real halves of the same size)."""

    dataset: str
    num_samples: int
    fid: float
    fid_floor: float
    kid: float
    kid_floor: float
    inception_score: float
    is_real: float

    @property
    def is_fraction(self) -> float:
        """inception_score / is_real: 1.0 means as varied and as clear as real images."""
        return self.inception_score / self.is_real

    def as_dict(self) -> dict:
        return {**asdict(self), "is_fraction": self.is_fraction}

    def line(self) -> str:
        return (f"{self.dataset}, {self.num_samples} samples: FID {self.fid:.2f} (real {self.fid_floor:.2f}), "
                f"KID {self.kid:.4f} (real {self.kid_floor:.4f}), IS {self.inception_score:.2f} "
                f"(real {self.is_real:.2f}, {100 * self.is_fraction:.0f}%)")

    def __str__(self) -> str:
        return self.line()


def score_samples(samples, dataset="mnist", value_range=None, seed=0) -> Score:
    """Score generated images against the real ones; print(result) gives one line.

    Inputs: samples, images (N, 784), (N, 28, 28) or (N, 28, 28, 1) in [0, 1] or [-1, 1] (use a few
    thousand: FID and KID are biased for small N); dataset "mnist" or "fashion_mnist"; value_range as in
    as_unit_images. Returns: a Score (fid, fid_floor, kid, kid_floor, inception_score, is_real).
    The floors compare two disjoint halves of the real images with min(N, real/2) images each.
    """
    _check_dataset(dataset)
    features, probabilities = features_and_probabilities(samples, dataset, value_range)
    if len(features) < 2:
        raise ValueError("need at least two samples to score")
    (real_f, real_p), (other_f, other_p) = _real_halves(dataset, len(features))
    size = len(real_f)
    features, probabilities = features[:size], probabilities[:size]
    return Score(
        dataset=dataset, num_samples=size,
        fid=frechet_distance(features, real_f), fid_floor=frechet_distance(other_f, real_f),
        kid=kernel_distance(features, real_f, seed=seed), kid_floor=kernel_distance(other_f, real_f, seed=seed),
        inception_score=inception_score_from_probabilities(probabilities),
        is_real=inception_score_from_probabilities(other_p))


# ---------------------------------------------------------------------------------------------------------
# Conditional GANs: does the generator draw the class it was asked for?

def _check_labels(labels, count: int) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim == 2 and array.shape[1] == 10:  # one-hot class vectors (keras_model_gan's conditioning)
        array = array.argmax(axis=1)
    array = array.reshape(-1) if array.ndim == 2 and array.shape[1] == 1 else array
    if array.ndim != 1 or len(array) != count:
        raise ValueError(f"labels must be (N,), (N, 1) or one-hot (N, 10) for N = {count} images; got shape "
                         f"{np.asarray(labels).shape}")
    if not np.all(np.isfinite(array)) or np.any(array != np.round(array)) or array.min() < 0 or array.max() > 9:
        raise ValueError("labels must be whole class numbers 0..9")
    return array.astype(np.int64)


def conditional_accuracy(images, labels, dataset="mnist", value_range=None) -> float:
    """Fraction of generated images the classifier puts in the class they were asked for.

    Inputs: images (N, 784), (N, 28, 28) or (N, 28, 28, 1) in [0, 1] or [-1, 1], generated for `labels`;
    labels, the requested classes: (N,) or (N, 1) class numbers 0..9 or one-hot (N, 10); dataset, which
    classifier. Returns: a float in [0, 1]; compare it with ``real_conditional_accuracy`` (the classifier's own
    accuracy on real images: a perfect conditional generator cannot beat it), and with 0.1 (labels ignored).
    """
    _check_dataset(dataset)
    wanted = _check_labels(labels, len(np.asarray(images)))
    if len(wanted) == 0:
        raise ValueError("need at least one image")
    return float(np.mean(classify(images, dataset, value_range) == wanted))


def real_conditional_accuracy(dataset="mnist", num_samples=None) -> float:
    """The real-data floor of conditional_accuracy: the classifier's accuracy on (at most num_samples) real
    images of the reference set against their true labels."""
    _check_dataset(dataset)
    images, labels = _real_images(dataset, with_labels=True)
    if num_samples is not None:
        images, labels = images[:num_samples], labels[:num_samples]
    return conditional_accuracy(images, labels, dataset, (0.0, 1.0))


@dataclass(frozen=True)
class ConditionalScore:
    """A Score plus the conditional accuracy of the same samples and its real floor."""

    score: Score
    accuracy: float
    accuracy_real: float

    def as_dict(self) -> dict:
        return {**self.score.as_dict(), "conditional_accuracy": self.accuracy,
                "conditional_accuracy_real": self.accuracy_real}

    def line(self) -> str:
        return (f"{self.score.line()}, conditional accuracy {100 * self.accuracy:.1f}% "
                f"(real {100 * self.accuracy_real:.1f}%)")

    def __str__(self) -> str:
        return self.line()


def score_conditional(samples, labels, dataset="mnist", value_range=None, seed=0) -> ConditionalScore:
    """score_samples of images generated for `labels`, plus their conditional accuracy (and its real floor).

    print(score_conditional(G([noise, labels]), labels, "fashion_mnist")) gives one line that ends with
    "conditional accuracy 85.2% (real 97.1%)".
    """
    score = score_samples(samples, dataset, value_range, seed)
    accuracy = conditional_accuracy(samples, labels, dataset, value_range)
    return ConditionalScore(score, accuracy, real_conditional_accuracy(dataset, len(np.asarray(samples))))


#: One printed score line: "<label>: <dataset>, N samples: FID f (real f), KID k (real k), IS s (real r, p%)"
#: optionally followed by ", conditional accuracy a% (real b%)".
SCORE_LINE = (r"(?P<label>[^\n:]*?):?\s*(?P<dataset>mnist|fashion_mnist), (?P<num_samples>\d+) samples: "
              r"FID (?P<fid>[\d.]+) \(real (?P<fid_floor>[\d.]+)\), KID (?P<kid>-?[\d.]+) \(real (?P<kid_floor>-?[\d.]+)\), "
              r"IS (?P<inception_score>[\d.]+) \(real (?P<is_real>[\d.]+), \d+%\)"
              r"(?:, conditional accuracy (?P<conditional_accuracy>[\d.]+)% \(real (?P<conditional_accuracy_real>[\d.]+)%\))?")


def parse_score_lines(text: str) -> list[dict]:
    """Every score line (Score.line / ConditionalScore.line, optionally after a "label:") found in text, as dicts
    of floats (label and dataset as strings; accuracies as fractions; is_fraction added)."""
    import re

    found = []
    for match in re.finditer(SCORE_LINE, text):
        values = match.groupdict()
        entry = {"label": values.pop("label").strip(), "dataset": values.pop("dataset")}
        for key, value in values.items():
            if value is not None:
                entry[key] = float(value) / (100.0 if key.startswith("conditional_accuracy") else 1.0)
        entry["num_samples"] = int(entry["num_samples"])
        entry["is_fraction"] = entry["inception_score"] / entry["is_real"]
        found.append(entry)
    return found
