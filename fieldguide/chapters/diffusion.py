"""The course's tiny diffusion model: a class-conditional diffusers ``UNet2DModel`` on 16x16 digits.

No diffusion weights install offline, so the course trains its own with the real Hugging Face
classes: ``UNet2DModel`` + ``DDPMScheduler`` (1000 steps, ``squaredcos_cap_v2``) on scikit-learn's
8x8 digits upscaled to 16x16. Class ``NULL_CLASS`` (10) means "no class": training drops labels
to it at random, which is what classifier-free guidance needs at sampling time.

``python -m fieldguide train ddpm-digits`` runs :func:`train_checkpoint`, which writes the
checkpoint committed in ``data/checkpoints/ddpm-digits`` (registered as ``fieldguide/ddpm-digits``).
Chapters use :func:`sample` on it, and score samples with :func:`recognised`,
:func:`distance_to_real` and :func:`diversity`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DModel
from diffusers.optimization import get_cosine_schedule_with_warmup

SIZE = 16
NUM_CLASSES = 10
NULL_CLASS = 10  # the "unconditional" label used for classifier-free guidance
SEED = 0
THREADS = 1  # tiny models gain nothing from more; one thread also keeps runs byte-identical
STEPS = 2000


def digits(size: int = SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1,797 digits as ``(N, 1, size, size)`` floats in [-1, 1], and their labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return images.clamp(0, 1) * 2 - 1, torch.tensor(data.target, dtype=torch.long)


def make_unet(size: int = SIZE) -> UNet2DModel:
    """A fresh 0.65M-parameter UNet: two resolutions, no attention, 11 class embeddings (10 + null)."""
    return UNet2DModel(
        sample_size=size,
        in_channels=1,
        out_channels=1,
        block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        layers_per_block=1,
        norm_num_groups=8,
        num_class_embeds=NUM_CLASSES + 1,
    )


def make_scheduler(beta_schedule: str = "squaredcos_cap_v2") -> DDPMScheduler:
    """The training scheduler: 1000 noise levels on a cosine schedule."""
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule=beta_schedule)


def train(
    unet: UNet2DModel,
    scheduler: DDPMScheduler,
    images: torch.Tensor,
    labels: torch.Tensor,
    steps: int,
    batch_size: int = 64,
    lr: float = 2e-3,
    label_dropout: float = 0.1,
    seed: int = SEED,
    callback: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Teach ``unet`` to predict the noise added to ``images``; return the loss of every step.

    Each step draws a batch, replaces a ``label_dropout`` share of its labels with ``NULL_CLASS``,
    noises the images to random timesteps with ``scheduler.add_noise`` and regresses the noise
    (mean squared error). AdamW with a cosine learning-rate schedule; every random draw comes
    from one seeded generator, so a run is repeatable on the same machine and thread count.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=lr)
    schedule = get_cosine_schedule_with_warmup(optimizer, min(100, steps // 10), steps)
    unet.train()
    losses = []
    for step in range(steps):
        index = torch.randint(len(images), (batch_size,), generator=generator)
        clean, classes = images[index], labels[index].clone()
        classes[torch.rand(batch_size, generator=generator) < label_dropout] = NULL_CLASS
        noise = torch.randn(clean.shape, generator=generator)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (batch_size,), generator=generator)
        predicted = unet(scheduler.add_noise(clean, noise, t), t, class_labels=classes).sample
        loss = F.mse_loss(predicted, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if callback is not None:
            callback(step, losses[-1])
    unet.eval()
    return losses


@torch.no_grad()
def sample(
    unet: UNet2DModel,
    scheduler: Any,
    labels: list[int] | torch.Tensor,
    steps: int = 50,
    guidance: float = 1.0,
    seed: int = SEED,
    trajectory: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """Generate one 16x16 image per label, in [-1, 1], with any diffusers scheduler.

    ``guidance`` is the classifier-free guidance scale: 1 uses the class alone, 0 ignores it
    (the null class), above 1 pushes away from the unconditional prediction:
    ``noise = uncond + guidance * (cond - uncond)``. With ``trajectory=True`` also returns the
    noisy image before and after every step (steps + 1 of them) and the scheduler's guess of the
    clean image at every step (``pred_original_sample``, for schedulers that report it).
    """
    labels = torch.as_tensor(labels, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    size = unet.config.sample_size
    x = torch.randn((len(labels), unet.config.in_channels, size, size), generator=generator)
    scheduler.set_timesteps(steps)
    x = x * scheduler.init_noise_sigma
    null = torch.full_like(labels, NULL_CLASS)
    path, guesses = [x], []
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(x, t)  # identity for DDPM/DDIM, needed by Euler-type schedulers
        if guidance == 1.0:
            noise = unet(model_input, t, class_labels=labels).sample
        elif guidance == 0.0:
            noise = unet(model_input, t, class_labels=null).sample
        else:
            both = torch.cat([model_input, model_input])
            cond, uncond = unet(both, t, class_labels=torch.cat([labels, null])).sample.chunk(2)
            noise = uncond + guidance * (cond - uncond)
        result = scheduler.step(noise, t, x, generator=generator)
        x = result.prev_sample
        path.append(x)
        if getattr(result, "pred_original_sample", None) is not None:
            guesses.append(result.pred_original_sample)
    return (x, path, guesses) if trajectory else x


def to_8x8(images: torch.Tensor) -> np.ndarray:
    """16x16 images in [-1, 1] -> flat 8x8 rows on scikit-learn's 0..16 scale (for the classifier)."""
    small = F.avg_pool2d((images.clamp(-1, 1) + 1) / 2, 2)
    return (small * 16).reshape(len(images), -1).numpy()


def digit_classifier() -> Any:
    """An SVC trained on all of scikit-learn's real 8x8 digits: the judge of generated ones."""
    from sklearn.datasets import load_digits
    from sklearn.svm import SVC

    data = load_digits()
    return SVC(gamma=0.001).fit(data.data, data.target)


def recognised(images: torch.Tensor, labels: list[int] | torch.Tensor, classifier: Any) -> float:
    """The share of generated images that the classifier reads as the digit they were asked to be."""
    predicted = classifier.predict(to_8x8(images))
    return float(np.mean(predicted == np.asarray(torch.as_tensor(labels))))


def distance_to_real(images: torch.Tensor, real: torch.Tensor) -> float:
    """The mean pixel distance from each image to its nearest real one: lower looks more like real data."""
    flat = images.reshape(len(images), -1)
    return float(torch.cdist(flat, real.reshape(len(real), -1)).min(dim=1).values.mean())


def diversity(images: torch.Tensor, labels: list[int] | torch.Tensor) -> float:
    """How different images of the same class are: the mean pixel distance between pairs, averaged over classes."""
    labels = torch.as_tensor(labels)
    flat = images.reshape(len(images), -1)
    spreads = []
    for label in labels.unique():
        group = flat[labels == label]
        if len(group) > 1:
            distances = torch.cdist(group, group)
            spreads.append(distances.sum() / (len(group) * (len(group) - 1)))
    return float(torch.stack(spreads).mean())


def train_checkpoint(out: Path, steps: int = STEPS, seed: int = SEED) -> dict[str, Any]:
    """Train the course checkpoint deterministically and save it (UNet + scheduler + README) in ``out``.

    Fixes the seed and the thread count and asks torch for deterministic algorithms: the same
    command on the same torch/diffusers versions writes byte-identical weight files.
    """
    torch.manual_seed(seed)
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    images, labels = digits()
    unet, scheduler = make_unet(), make_scheduler()
    started = time.perf_counter()
    losses = train(unet, scheduler, images, labels, steps, seed=seed)
    seconds = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    unet.save_pretrained(out, safe_serialization=True)
    scheduler.save_pretrained(out)
    eval_labels = [i % NUM_CLASSES for i in range(100)]
    from diffusers import DDIMScheduler

    share = recognised(sample(unet, DDIMScheduler.from_config(scheduler.config), eval_labels), eval_labels,
                       digit_classifier())
    summary = {"steps": steps, "seconds": round(seconds), "final_loss": float(np.mean(losses[-100:])),
               "recognised": share, "parameters": sum(p.numel() for p in unet.parameters())}
    (out / "README.md").write_text(_readme(summary), encoding="utf-8")
    return summary


def _readme(summary: dict[str, Any]) -> str:
    import diffusers

    return f"""# fieldguide/ddpm-digits

A tiny class-conditional diffusion model made by the Hugging Face Field Guide for its diffusion and
video chapters. It is not on the Hugging Face Hub: no diffusion weights install offline, so the
course trains its own with the real diffusers classes.

- **Model:** `diffusers.UNet2DModel`, {summary['parameters']:,} parameters: 16x16, 1 channel,
  block_out_channels (32, 64), one layer per block, two DownBlock2D/UpBlock2D, no attention, 11 class embeddings
  (digits 0-9, and 10 = "no class" for classifier-free guidance).
- **Scheduler:** `diffusers.DDPMScheduler`, 1000 steps, beta_schedule `squaredcos_cap_v2`.
- **Data:** scikit-learn's digits (1,797 8x8 images, 0-16), upscaled to 16x16 bilinearly, scaled
  to [-1, 1].
- **Training:** {summary['steps']} steps, batch 64, AdamW lr 2e-3 with {min(100, summary['steps'] // 10)} warm-up steps and a
  cosine decay, labels dropped to class 10 with probability 0.1, noise-prediction MSE. Seed 0,
  1 thread, `torch.use_deterministic_algorithms(True)`. Mean loss of the last 100 steps:
  {summary['final_loss']:.4f}.
- **Made by:** `python -m fieldguide train ddpm-digits --steps {summary['steps']}` (fieldguide/chapters/diffusion.py),
  with torch {torch.__version__} and diffusers {diffusers.__version__} on a 2-core CPU; it took
  {summary['seconds']} s of wall time on a machine busy with other jobs (expect less on a quiet one).
- **Reproducible:** the same command with the same torch and diffusers versions writes
  byte-identical `config.json`, `diffusion_pytorch_model.safetensors` and `scheduler_config.json`
  (checked by training twice); only the time above changes.
- **Check:** with 50-step DDIM sampling, an SVC trained on the real 8x8 digits recognised
  {round(summary['recognised'] * 100)} of 100 generated digits (10 of each class; chance is 10).
- **Licence:** the course's own (Apache-2.0), like its code. The training data is scikit-learn's
  bundled copy of the UCI Optical Recognition of Handwritten Digits test set (E. Alpaydin and
  C. Kaynak, 1998; https://archive.ics.uci.edu/dataset/80).

Load it with the diffusers API:

```python
from diffusers import DDPMScheduler, UNet2DModel
unet = UNet2DModel.from_pretrained(folder)
scheduler = DDPMScheduler.from_pretrained(folder)
```
"""
