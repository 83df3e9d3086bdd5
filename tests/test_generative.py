"""The diffusion and video helpers: deterministic training, the committed checkpoint, moving-digit clips."""

from __future__ import annotations

import torch

from fieldguide.chapters import diffusion, video
from fieldguide.resources import data_path

torch.set_num_threads(diffusion.THREADS)  # tiny models: one thread is fastest and repeatable


def test_the_unet_is_the_small_one_the_chapter_describes():
    assert sum(p.numel() for p in diffusion.make_unet().parameters()) == 652_449


def test_training_is_repeatable_with_a_seed():
    images, labels = diffusion.digits()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        unet = diffusion.make_unet()
        runs.append(diffusion.train(unet, diffusion.make_scheduler(), images[:128], labels[:128], steps=3, batch_size=16))
    assert runs[0] == runs[1] and len(runs[0]) == 3


def test_the_committed_checkpoint_draws_recognisable_digits():
    from diffusers import DDIMScheduler, UNet2DModel

    folder = data_path("checkpoints/ddpm-digits")
    unet = UNet2DModel.from_pretrained(folder)
    scheduler = DDIMScheduler.from_pretrained(folder)
    labels = [i % 10 for i in range(30)]
    images = diffusion.sample(unet, scheduler, labels, steps=25)
    assert images.shape == (30, 1, 16, 16)
    assert diffusion.recognised(images, labels, diffusion.digit_classifier()) >= 0.7  # chance is 0.1


def test_guidance_zero_ignores_the_class():
    unet = diffusion.make_unet()
    scheduler = diffusion.make_scheduler()
    a = diffusion.sample(unet, scheduler, [3], steps=2, guidance=0.0)
    b = diffusion.sample(unet, scheduler, [7], steps=2, guidance=0.0)
    assert torch.equal(a, b)


def test_moving_digits_move_the_way_their_label_says():
    clips, labels = video.moving_digits(40, frames=6, size=24, seed=1)
    assert clips.shape == (40, 6, 1, 24, 24) and clips.min() >= 0 and clips.max() <= 1
    again, _ = video.moving_digits(40, frames=6, size=24, seed=1)
    assert torch.equal(clips, again)
    # the digit never leaves the frame: every frame holds the same ink
    ink = clips.sum(dim=(2, 3, 4))
    assert torch.allclose(ink, ink[:, :1].expand_as(ink))
    path = video.centroid_path(clips)
    moved = path[:, -1] - path[:, 0]
    expected = {"right": (1, 1), "left": (1, -1), "down": (0, 1), "up": (0, -1)}
    for move, label in zip(moved, labels):
        axis, sign = expected[video.DIRECTIONS[label]]
        assert move[axis] * sign > 0


def test_gifs_are_gifs():
    frames = [torch.rand(8, 8).numpy() for _ in range(3)]
    data = video.gif_bytes(frames)
    assert data[:6] == b"GIF89a"
    assert video.gif_html(data).startswith('<img src="data:image/gif;base64,')
