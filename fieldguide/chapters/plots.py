"""Small plotting helpers shared by the chapters (matplotlib, imported lazily)."""

from __future__ import annotations

from typing import Any, Sequence


def image_row(images: Sequence[Any], titles: Sequence[str] = (), size: float = 2.2, cmap: str | None = None) -> Any:
    """Show images side by side, one title each, without axes; returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(images), figsize=(size * len(images), size), squeeze=False)
    for ax, image, title in zip(axes[0], images, list(titles) + [""] * len(images)):
        ax.imshow(image, cmap=cmap)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig


def top_k_bars(ax: Any, labels: Sequence[str], scores: Sequence[float], title: str = "") -> None:
    """Horizontal bars of a classifier's top-k scores, the best at the top."""
    ax.barh(range(len(labels))[::-1], scores, color="tab:orange")
    ax.set_yticks(range(len(labels))[::-1], labels, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_title(title, fontsize=9)


def patch_grid(ax: Any, image: Any, patch: int) -> None:
    """Draw ``image`` with the borders of its ``patch`` x ``patch`` pixel patches, numbered in reading order."""
    height, width = image.shape[:2] if hasattr(image, "shape") else image.size[::-1]
    ax.imshow(image, cmap="gray")
    for edge in range(0, max(height, width) + 1, patch):
        ax.axhline(edge - 0.5, color="tab:orange", lw=1)
        ax.axvline(edge - 0.5, color="tab:orange", lw=1)
    for number in range((height // patch) * (width // patch)):
        row, col = divmod(number, width // patch)
        ax.text(col * patch + 0.2, row * patch + 0.9, str(number), color="tab:orange", fontsize=7)
    ax.axis("off")


def heatmap(ax: Any, matrix: Any, rows: Sequence[str], cols: Sequence[str], fmt: str = "{:.2f}", cmap: str = "viridis") -> None:
    """A labelled matrix with its values written in the cells (small matrices only)."""
    import numpy as np

    values = np.asarray(matrix)
    ax.imshow(values, cmap=cmap)
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    middle = (values.max() + values.min()) / 2
    for (i, j), value in np.ndenumerate(values):
        ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=7, color="black" if value > middle else "white")


def memory_bars(ax: Any, names: Sequence[str], sizes_gb: dict[str, Sequence[float]], budgets_gb: dict[str, float]) -> None:
    """Grouped horizontal bars of weight memory per model (one bar per dtype), with each memory budget as a dashed line."""
    import numpy as np

    rows = np.arange(len(names))[::-1]
    height = 0.8 / len(sizes_gb)
    for offset, (dtype, sizes) in enumerate(sizes_gb.items()):
        ax.barh(rows + 0.4 - height * (offset + 0.5), sizes, height=height, label=dtype)
    for (budget, gigabytes), style in zip(budgets_gb.items(), ("--", ":", "-.", "-")):
        ax.axvline(gigabytes, color="black", ls=style, lw=1, label=f"{budget} ({gigabytes:g} GB)")
    ax.set_yticks(rows, names, fontsize=8)
    ax.set_xscale("log")
    ticks = [2.0**power for power in range(-3, 10)]
    largest = max(max(sizes) for sizes in sizes_gb.values())
    ax.set_xticks([t for t in ticks if t <= 2 * largest], [f"{t:g}" for t in ticks if t <= 2 * largest])
    ax.minorticks_off()
    ax.set_xlabel("weights in memory (GB, log scale)")
    ax.legend(fontsize=7, loc="upper right")


def image_grid(
    images: Any, rows: int, row_titles: Sequence[str] = (), col_titles: Sequence[str] = (),
    size: float = 0.9, cmap: str = "gray", **imshow: Any,
) -> Any:
    """Show a stack of images (N, H, W) as a ``rows`` x N/rows grid, with optional row and column titles.

    Each image is scaled to its own range unless ``imshow`` arguments (e.g. ``vmin``, ``vmax``) say otherwise.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    images = np.asarray(images)
    cols = -(-len(images) // rows)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols + (0.8 if row_titles else 0), size * rows), squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index < len(images):
            ax.imshow(images[index], cmap=cmap, **imshow)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.spines[:].set_visible(False)
    for ax, title in zip(axes[:, 0], row_titles):
        ax.set_ylabel(title, fontsize=8, rotation=0, ha="right", va="center")
    for ax, title in zip(axes[0], col_titles):
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig
