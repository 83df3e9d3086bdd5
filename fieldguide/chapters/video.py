"""Small video helpers for the video chapter: clips of moving digits (alone, or with a moving
square as a distractor), a centroid baseline, and GIFs from frames.

A clip is a tensor ``(frames, channels, height, width)``; a batch adds a leading dimension, the
layout transformers' video models (VideoMAE, TimeSformer, ViViT) take as ``pixel_values``.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Sequence

import numpy as np
import torch

DIRECTIONS = ("right", "left", "down", "up")
_STEP = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}  # (rows, columns) per frame
SPRITE = 8  # scikit-learn's digits are 8x8


def _start(step: int, travel: int, room: int, rng: np.random.Generator) -> int:
    """A start coordinate that keeps the sprite inside the frame for the whole clip."""
    if step > 0:
        return int(rng.integers(0, room - travel + 1))
    if step < 0:
        return int(rng.integers(travel, room + 1))
    return int(rng.integers(0, room + 1))


def moving_digits(n: int, frames: int = 8, size: int = 24, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` clips of a handwritten digit sliding across a dark frame, and each clip's direction.

    Returns clips ``(n, frames, 1, size, size)`` with values in [0, 1] and labels indexing
    ``DIRECTIONS``. Each clip draws its digit, direction, speed (1 or 2 pixels a frame) and start
    position from one seeded generator, and the digit never leaves the frame.
    """
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(seed)
    sprites = load_digits().images / 16.0
    clips = np.zeros((n, frames, 1, size, size), dtype=np.float32)
    labels = rng.integers(0, len(DIRECTIONS), n)
    room = size - SPRITE
    for clip, label in zip(clips, labels):
        sprite = sprites[rng.integers(len(sprites))]
        dy, dx = _STEP[DIRECTIONS[label]]
        speed = int(rng.integers(1, 3))
        travel = speed * (frames - 1)
        y0, x0 = _start(dy, travel, room, rng), _start(dx, travel, room, rng)
        for f in range(frames):
            y, x = y0 + dy * speed * f, x0 + dx * speed * f
            clip[f, 0, y:y + SPRITE, x:x + SPRITE] = sprite
    return torch.from_numpy(clips), torch.from_numpy(labels)


def moving_digits_and_square(n: int, frames: int = 8, size: int = 24, side: int = 5,
                             seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` clips of a digit and a solid ``side`` x ``side`` square, each sliding its own way.

    Like :func:`moving_digits`, but every clip also holds a bright square with its own direction
    and speed (1 or 2 pixels a frame), drawn independently of the digit's; where the two overlap
    the brighter pixel wins. Returns the clips, the digit's direction (the label) and the
    square's direction, both indexing ``DIRECTIONS``.
    """
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(seed)
    sprites = load_digits().images / 16.0
    clips = np.zeros((n, frames, 1, size, size), dtype=np.float32)
    labels, squares = rng.integers(0, len(DIRECTIONS), n), rng.integers(0, len(DIRECTIONS), n)
    square = np.ones((side, side), dtype=np.float32)
    for clip, label, other in zip(clips, labels, squares):
        for thing, direction in ((sprites[rng.integers(len(sprites))], label), (square, other)):
            dy, dx = _STEP[DIRECTIONS[direction]]
            speed, extent = int(rng.integers(1, 3)), len(thing)
            travel, room = speed * (frames - 1), size - extent
            y0, x0 = _start(dy, travel, room, rng), _start(dx, travel, room, rng)
            for f in range(frames):
                y, x = y0 + dy * speed * f, x0 + dx * speed * f
                window = clip[f, 0, y:y + extent, x:x + extent]
                np.maximum(window, thing, out=window)
    return torch.from_numpy(clips), torch.from_numpy(labels), torch.from_numpy(squares)


def centroid_path(clips: torch.Tensor) -> torch.Tensor:
    """The brightness-weighted centre (row, column) of every frame: ``(n, frames, 2)``."""
    frames = clips[:, :, 0]
    mass = frames.sum(dim=(-1, -2)).clamp_min(1e-8)
    coords = torch.arange(frames.shape[-1], dtype=frames.dtype)
    rows = (frames.sum(-1) * coords).sum(-1) / mass
    cols = (frames.sum(-2) * coords).sum(-1) / mass
    return torch.stack([rows, cols], dim=-1)


def centroid_rule(clips: torch.Tensor) -> torch.Tensor:
    """The hand-written baseline: the direction in which the centre of brightness moved most,
    from the first frame to the last, as indices into ``DIRECTIONS``."""
    path = centroid_path(clips)
    move = path[:, -1] - path[:, 0]
    across = torch.where(move[:, 1] > 0, 0, 1)  # right or left
    along = torch.where(move[:, 0] > 0, 2, 3)  # down or up
    return torch.where(move[:, 1].abs() > move[:, 0].abs(), across, along)


def gif_bytes(frames: Sequence[np.ndarray], scale: int = 3, ms: int = 120, hold: int = 6, levels: int = 32) -> bytes:
    """Encode greyscale frames (2-D arrays, any range) as an animated GIF, scaled up ``scale`` times.

    All frames share one brightness range, rounded to ``levels`` greys (fewer greys, smaller file);
    the last frame is shown ``hold`` times longer.
    """
    from PIL import Image

    stack = np.asarray(frames, dtype=np.float32)
    low, high = float(stack.min()), float(stack.max())
    steps = ((stack - low) / max(high - low, 1e-8) * (levels - 1)).round()
    pixels = (steps * (255 // (levels - 1))).astype(np.uint8)
    pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)
    images = [Image.fromarray(frame) for frame in pixels]
    buffer = io.BytesIO()
    durations = [ms] * (len(images) - 1) + [ms * hold]
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    return buffer.getvalue()


def gif_html(data: bytes, alt: str = "Animated GIF of a sequence of video frames.", width: int | None = None) -> str:
    """An ``<img>`` tag that embeds GIF bytes, for ``IPython.display.HTML`` (renders in Jupyter and in the book).

    ``alt`` describes the animation for screen readers (HTML-escaped here); ``width`` (pixels)
    enlarges the picture on the page without making the file bigger.
    """
    encoded = base64.b64encode(data).decode("ascii")
    size = f" width: {width}px;" if width else ""
    label = html.escape(alt, quote=True)
    return f'<img src="data:image/gif;base64,{encoded}" alt="{label}" style="image-rendering: pixelated;{size}">'
