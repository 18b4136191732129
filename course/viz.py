"""Plots for the course notebooks: image grids and loss curves (matplotlib; works with the Agg backend).

The figure functions create pyplot figures and do not call ``plt.show()``: in a notebook the inline backend
shows them at the end of the cell. When such a call is the cell's last line, end it with ``;`` so the
returned figure is not shown a second time.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

#: Grey level of the gaps between the images of a grid and of its empty cells.
PAD_VALUE = 0.5


def _as_batch(images) -> np.ndarray:
    """Images as float (N, H, W) or (N, H, W, 3|4) in [0, 1]."""
    array = np.asarray(images, dtype=np.float64)
    if array.ndim == 2:  # flattened: (N, H*W) or (N, H*W*3)
        size = array.shape[1]
        side = math.isqrt(size)
        if side * side == size:
            array = array.reshape(-1, side, side)
        elif size % 3 == 0 and math.isqrt(size // 3) ** 2 == size // 3:
            side = math.isqrt(size // 3)
            array = array.reshape(-1, side, side, 3)
        else:
            raise ValueError(f"cannot reshape flattened images of {size} values into squares")
    elif array.ndim == 4:
        if array.shape[-1] == 1:
            array = array[..., 0]
        elif array.shape[-1] not in (3, 4):
            raise ValueError(f"images (N, H, W, C) need C in 1, 3, 4; got shape {array.shape}")
    elif array.ndim != 3:
        raise ValueError(f"images must be (N, D), (N, H, W) or (N, H, W, C); got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError("no images to show")
    if array.size and array.min() < 0:  # generator outputs in [-1, 1]
        array = (array + 1.0) / 2.0
    return np.clip(array, 0.0, 1.0)


def image_grid(images, ncols=None, padding=1) -> np.ndarray:
    """Tile a batch of images into one image.

    Inputs: images (N, H*W), (N, H, W), (N, H, W, 1) or (N, H, W, 3|4), values in [0, 1] or in [-1, 1]
    (mapped to [0, 1] when the minimum is below 0); ncols, images per row (default ceil(sqrt(N)));
    padding, pixels of grey between neighbours.
    Returns: float array in [0, 1] of shape (rows*H + (rows-1)*padding, ncols*W + (ncols-1)*padding),
    with a trailing channel axis for colour images; rows = ceil(N / ncols).
    """
    batch = _as_batch(images)
    count, height, width = batch.shape[:3]
    ncols = int(ncols) if ncols else math.ceil(math.sqrt(count))
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}")
    ncols = min(ncols, count)
    nrows = math.ceil(count / ncols)
    shape = (nrows * height + (nrows - 1) * padding, ncols * width + (ncols - 1) * padding) + batch.shape[3:]
    grid = np.full(shape, PAD_VALUE)
    for index, image in enumerate(batch):
        row, col = divmod(index, ncols)
        top, left = row * (height + padding), col * (width + padding)
        grid[top:top + height, left:left + width] = image
    return grid


def show_images(images, title=None, ncols=None):
    """Show a batch of images as one grid (see ``image_grid``); returns the matplotlib Figure."""
    grid = image_grid(images, ncols=ncols)
    scale = 6.0 / max(grid.shape[:2])
    fig = plt.figure(figsize=(max(2.0, grid.shape[1] * scale), max(2.0, grid.shape[0] * scale)))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def save_image_grid(images, path, ncols=None) -> Path:
    """Write the grid of ``images`` (see ``image_grid``) as a PNG of exactly the grid's pixel size.

    Returns the path written (its parent folders are created).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, image_grid(images, ncols=ncols), cmap="gray", vmin=0.0, vmax=1.0, format="png")
    return path


def plot_losses(history, title=None):
    """Plot loss curves against the training step.

    Inputs: history, a dict name -> list of floats (for example {"discriminator": [...], "generator": [...]}).
    Returns: the matplotlib Figure, one labelled line per name.
    """
    fig = plt.figure(figsize=(7, 4))
    ax = fig.add_subplot(1, 1, 1)
    for name, values in history.items():
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        ax.plot(np.arange(len(values)), values, label=str(name))
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if history:
        ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
