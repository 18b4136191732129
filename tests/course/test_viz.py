"""Tests of course.viz: grid shapes and values, PNG size, figures."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course import viz  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("images, ncols, shape", [
    (np.zeros((16, 784)), None, (4 * 28 + 3, 4 * 28 + 3)),
    (np.zeros((10, 28, 28)), None, (3 * 28 + 2, 4 * 28 + 3)),  # ceil(sqrt(10)) = 4 columns, 3 rows
    (np.zeros((10, 28, 28)), 5, (2 * 28 + 1, 5 * 28 + 4)),
    (np.zeros((3, 28, 28)), 8, (28, 3 * 28 + 2)),  # never more columns than images
    (np.zeros((6, 28, 28, 1)), 3, (2 * 28 + 1, 3 * 28 + 2)),
    (np.zeros((4, 32, 32, 3)), None, (2 * 32 + 1, 2 * 32 + 1, 3)),
    (np.zeros((2, 3072)), 2, (32, 2 * 32 + 1, 3)),
    (np.zeros((1, 5, 7)), None, (5, 7)),
])
def test_image_grid_shapes(images, ncols, shape):
    grid = viz.image_grid(images, ncols=ncols)
    assert grid.shape == shape


def test_image_grid_places_images_row_major_with_grey_padding():
    images = np.stack([np.full((2, 3), k / 10.0) for k in range(5)])
    grid = viz.image_grid(images, ncols=3, padding=1)
    assert grid.shape == (2 * 2 + 1, 3 * 3 + 2)
    for k in range(5):
        row, col = divmod(k, 3)
        block = grid[row * 3:row * 3 + 2, col * 4:col * 4 + 3]
        np.testing.assert_allclose(block, k / 10.0)
    np.testing.assert_allclose(grid[2, :], viz.PAD_VALUE)  # gap between rows
    np.testing.assert_allclose(grid[:, 3], viz.PAD_VALUE)  # gap between columns
    np.testing.assert_allclose(grid[3:, 8:], viz.PAD_VALUE)  # the empty sixth cell
    assert viz.image_grid(images, ncols=3, padding=0).shape == (4, 9)


def test_image_grid_maps_minus_one_one_to_unit_range():
    images = np.array([[[-1.0, 0.0], [0.5, 1.0]]])
    np.testing.assert_allclose(viz.image_grid(images), [[0.0, 0.5], [0.75, 1.0]])
    unit = np.array([[[0.0, 0.25], [0.5, 1.0]]])
    np.testing.assert_allclose(viz.image_grid(unit), unit[0])


def test_image_grid_flattened_matches_square():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(5, 28, 28))
    np.testing.assert_array_equal(viz.image_grid(images.reshape(5, 784), ncols=2), viz.image_grid(images, ncols=2))


@pytest.mark.parametrize("bad", [np.zeros((2, 10)), np.zeros(5), np.zeros((2, 4, 4, 2)), np.zeros((0, 28, 28))])
def test_image_grid_rejects_bad_shapes(bad):
    with pytest.raises(ValueError):
        viz.image_grid(bad)


def test_show_images_returns_a_figure_with_the_grid():
    images = np.random.default_rng(1).uniform(-1, 1, size=(9, 28, 28)).astype(np.float32)
    fig = viz.show_images(images, title="samples")
    assert isinstance(fig, matplotlib.figure.Figure)
    (ax,) = fig.axes
    assert ax.get_title() == "samples"
    (shown,) = ax.get_images()
    np.testing.assert_allclose(shown.get_array(), viz.image_grid(images))


def test_show_images_colour():
    fig = viz.show_images(np.ones((2, 32, 32, 3)))
    assert fig.axes[0].get_images()[0].get_array().shape == (32, 2 * 32 + 1, 3)


@pytest.mark.parametrize("images, size", [
    (np.zeros((16, 28, 28)), (4 * 28 + 3, 4 * 28 + 3)),
    (np.zeros((5, 784)), (2 * 28 + 1, 3 * 28 + 2)),
    (np.zeros((2, 32, 32, 3)), (32, 2 * 32 + 1)),
])
def test_save_image_grid_writes_a_png_of_the_grid_size(tmp_path, images, size):
    path = viz.save_image_grid(images, tmp_path / "out" / "grid.png")
    assert path == tmp_path / "out" / "grid.png" and path.is_file()
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = mpimg.imread(path)
    assert pixels.shape[:2] == size


def test_save_image_grid_pixel_values(tmp_path):
    images = np.stack([np.zeros((4, 4)), np.ones((4, 4))]) * 2.0 - 1.0  # black and white in [-1, 1]
    pixels = mpimg.imread(viz.save_image_grid(images, tmp_path / "bw.png", ncols=2))
    assert pixels.shape[:2] == (4, 9)
    np.testing.assert_allclose(pixels[:, :4, :3], 0.0, atol=1e-6)
    np.testing.assert_allclose(pixels[:, 5:, :3], 1.0, atol=1e-6)
    np.testing.assert_allclose(pixels[:, 4, :3], viz.PAD_VALUE, atol=0.01)


def test_save_image_grid_accepts_str_paths(tmp_path):
    path = viz.save_image_grid(np.zeros((1, 3, 3)), str(tmp_path / "s.png"))
    assert mpimg.imread(path).shape[:2] == (3, 3)


def test_plot_losses_draws_one_labelled_line_per_curve():
    history = {"discriminator": [1.4, 1.2, 1.0, 0.9], "generator": [0.7, 0.9, 1.1, 1.3]}
    fig = viz.plot_losses(history, title="GAN losses")
    assert isinstance(fig, matplotlib.figure.Figure)
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["discriminator", "generator"]
    for line, values in zip(lines, history.values()):
        np.testing.assert_allclose(line.get_ydata(), values)
        np.testing.assert_allclose(line.get_xdata(), np.arange(len(values)))
    assert ax.get_title() == "GAN losses"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["discriminator", "generator"]


def test_plot_losses_curves_of_different_lengths_and_numpy_values():
    fig = viz.plot_losses({"d": np.array([1.0, 2.0, 3.0], dtype=np.float32), "g": [np.float32(0.5)]})
    lengths = [len(line.get_ydata()) for line in fig.axes[0].get_lines()]
    assert lengths == [3, 1]
    assert fig.axes[0].get_title() == ""
