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
    assert 'alt="Animated GIF of a sequence of video frames."' in video.gif_html(data)
    assert 'alt="a &quot;3&quot; &lt;moving&gt; &amp; fading"' in video.gif_html(data, alt='a "3" <moving> & fading')


def test_square_clips_hold_a_digit_and_a_square_and_repeat():
    clips, labels, squares = video.moving_digits_and_square(30, frames=6, size=24, seed=2)
    assert clips.shape == (30, 6, 1, 24, 24) and clips.min() >= 0 and clips.max() <= 1
    again = video.moving_digits_and_square(30, frames=6, size=24, seed=2)
    assert torch.equal(clips, again[0]) and torch.equal(labels, again[1]) and torch.equal(squares, again[2])
    # a solid 5x5 square is in every frame: at least 25 pixels at full brightness
    assert bool(((clips == 1).sum(dim=(2, 3, 4)) >= 25).all())
    assert bool((squares != labels).any())


def test_the_video_chapter_task_needs_learning():
    """The centroid rule solves clean clips, so the chapter must train VideoMAE on clips it cannot solve."""
    clips, labels = video.moving_digits(200, seed=5)
    assert float((video.centroid_rule(clips) == labels).float().mean()) == 1.0
    clips, labels, _ = video.moving_digits_and_square(200, seed=5)
    assert float((video.centroid_rule(clips) == labels).float().mean()) < 0.6


def test_the_video_chapter_names_the_diffusers_repository_it_loads():
    """Where the catalog says a model's diffusers-format weights live in another repository, the chapter names it."""
    import json
    import re

    import yaml

    root = data_path("models.yaml").parent.parent
    text = "\n".join("".join(c["source"]) for c in json.loads((root / "notebooks" / "10-video.ipynb").read_text())["cells"]
                     if c["cell_type"] == "markdown")
    models = yaml.safe_load(data_path("models.yaml").read_text())
    models = models["models"] if isinstance(models, dict) else models
    named = [m for m in models if m.get("chapter") == "video" and re.search(r"[\w.-]+/[\w.-]+-Diffusers", m.get("note", ""))]
    assert named, "the catalog's video entries no longer mention a -Diffusers repository"
    for model in named:
        assert re.search(r"[\w.-]+/[\w.-]+-Diffusers", model["note"]).group(0) in text, model["id"]
