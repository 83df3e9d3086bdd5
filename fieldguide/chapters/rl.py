"""Small helpers for the reinforcement-learning chapter: baselines, episode logs, frames, GIFs.

The agents themselves are ordinary stable-baselines3 objects; these helpers only give them a
random opponent, record what happened during training, and turn rendered frames into a GIF.
"""

from __future__ import annotations

import base64
import html
import io
import os
from typing import Any, Callable, Sequence

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback


class RandomPolicy:
    """A policy that ignores what it sees: each action is drawn uniformly from ``action_space``.

    It has the ``predict`` method that ``evaluate_policy`` calls, so it is evaluated exactly like a
    trained agent. Its draws come from its own seeded generator.
    """

    def __init__(self, action_space: Any, seed: int = 0) -> None:
        self.action_space = action_space
        self.rng = np.random.default_rng(seed)

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        n = len(observation) if np.ndim(observation) > 1 else 1
        return self.rng.integers(0, self.action_space.n, size=n), None


class RulePolicy:
    """A hand-written policy: ``rule(observation) -> action`` applied to every environment."""

    def __init__(self, rule: Callable[[np.ndarray], int]) -> None:
        self.rule = rule

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        return np.array([int(self.rule(o)) for o in np.atleast_2d(observation)]), None


class EpisodeLog(BaseCallback):
    """Record every finished training episode as (timesteps so far, return, length).

    Reads the ``episode`` entry that the ``Monitor`` wrapper (added by ``make_vec_env``) puts in
    ``info`` when an episode ends.
    """

    def __init__(self) -> None:
        super().__init__()
        self.episodes: list[tuple[int, float, int]] = []

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:
                self.episodes.append((self.num_timesteps, float(info["episode"]["r"]), int(info["episode"]["l"])))
        return True


def rolling_mean(values: Sequence[float], window: int) -> np.ndarray:
    """The mean of each run of ``window`` consecutive values (shorter at the start)."""
    values = np.asarray(values, dtype=float)
    sums = np.cumsum(np.insert(values, 0, 0.0))
    starts = np.maximum(np.arange(1, len(values) + 1) - window, 0)
    return (sums[1:] - sums[starts]) / (np.arange(1, len(values) + 1) - starts)


def play(policy: Any, env: Any, seed: int, max_steps: int, every: int = 1) -> tuple[list[np.ndarray], float]:
    """Play one episode with ``policy`` in a single ``render_mode="rgb_array"`` environment.

    Returns every ``every``-th rendered frame (at most ``max_steps`` steps) and the episode's return.
    No window is opened: pygame draws off-screen (SDL's dummy video driver unless one is set).
    """
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    observation, _ = env.reset(seed=seed)
    frames, total = [env.render()], 0.0
    for step in range(1, max_steps + 1):
        action, _ = policy.predict(observation, deterministic=True)
        observation, reward, terminated, truncated, _ = env.step(int(np.asarray(action).reshape(-1)[0]))
        total += float(reward)
        if step % every == 0:
            frames.append(env.render())
        if terminated or truncated:
            break
    return frames, total


def gif_html(frames: Sequence[np.ndarray], ms: int = 40, width: int = 360,
             alt: str = "Animated GIF of an episode played in the environment.") -> tuple[str, int]:
    """Encode RGB frames as an animated GIF; return an ``<img>`` tag that embeds it, and its size in bytes.

    ``alt`` describes the episode for screen readers; it is HTML-escaped here.
    """
    from PIL import Image

    images = [Image.fromarray(np.asarray(frame, dtype=np.uint8)) for frame in frames]
    images = [image.resize((image.width // 2, image.height // 2)) for image in images]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=ms, loop=0, optimize=True)
    data = buffer.getvalue()
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img src="data:image/gif;base64,{encoded}" alt="{html.escape(alt, quote=True)}" width="{width}">', len(data)
