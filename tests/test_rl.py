"""The RL chapter's claims, small and seeded: a short PPO run beats a random policy, and a saved
agent reloads from its Hub-style folder and plays exactly as before."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
import torch  # noqa: E402
from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402
from stable_baselines3.common.evaluation import evaluate_policy  # noqa: E402

from fieldguide.chapters import rl as fgr  # noqa: E402


def evaluation_env():
    return make_vec_env("CartPole-v1", n_envs=10, seed=1000)


@pytest.fixture(scope="module")
def short_agent():
    """PPO with the chapter's settings, trained for 12,000 steps instead of 30,000 (a few seconds)."""
    torch.set_num_threads(1)
    agent = PPO("MlpPolicy", make_vec_env("CartPole-v1", n_envs=8, seed=0), n_steps=32, batch_size=256,
                gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0, learning_rate=lambda p: 1e-3 * p,
                clip_range=lambda p: 0.2 * p, seed=0, device="cpu")
    return agent.learn(total_timesteps=12_000)


def test_random_policy_is_seeded_and_short_lived():
    runs = [evaluate_policy(fgr.RandomPolicy(evaluation_env().action_space, seed=0), evaluation_env(), n_eval_episodes=50)
            for _ in range(2)]
    assert runs[0] == runs[1]
    assert 10 < runs[0][0] < 40


def test_short_training_beats_random_by_a_margin(short_agent):
    random_mean, _ = evaluate_policy(fgr.RandomPolicy(evaluation_env().action_space, seed=0), evaluation_env(), n_eval_episodes=50)
    trained_mean, _ = evaluate_policy(short_agent, evaluation_env(), n_eval_episodes=50, deterministic=True)
    assert trained_mean > 3 * random_mean, (trained_mean, random_mean)


def test_saved_agent_reloads_and_plays_the_same(short_agent, tmp_path):
    short_agent.save(tmp_path / "ppo-CartPole-v1")
    reloaded = PPO.load(tmp_path / "ppo-CartPole-v1.zip", device="cpu")
    before = evaluate_policy(short_agent, evaluation_env(), n_eval_episodes=20, deterministic=True)
    after = evaluate_policy(reloaded, evaluation_env(), n_eval_episodes=20, deterministic=True)
    assert before == after
    observations = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    assert (short_agent.predict(observations, deterministic=True)[0] == reloaded.predict(observations, deterministic=True)[0]).all()


def test_rule_policy_and_episode_log():
    lean_mean, _ = evaluate_policy(fgr.RulePolicy(lambda o: int(o[2] > 0)), evaluation_env(), n_eval_episodes=20)
    assert lean_mean > 30  # better than random, from a one-line rule
    log = fgr.EpisodeLog()
    PPO("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=0), n_steps=64, seed=0, device="cpu").learn(256, callback=log)
    assert log.episodes and all(length == round(ret) for _, ret, length in log.episodes)
    assert np.allclose(fgr.rolling_mean([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])


def test_play_renders_frames_and_gif():
    import gymnasium as gym

    viewer = gym.make("CartPole-v1", render_mode="rgb_array")
    frames, total = fgr.play(fgr.RandomPolicy(viewer.action_space, seed=0), viewer, seed=0, max_steps=50, every=2)
    assert frames[0].shape == (400, 600, 3) and 1 <= total <= 50
    html, size = fgr.gif_html(frames)
    assert html.startswith('<img src="data:image/gif;base64,') and size > 0
    assert 'alt="Animated GIF of an episode played in the environment."' in html
    tagged, _ = fgr.gif_html(frames[:2], alt='the "random" policy <falls> & stops')
    assert 'alt="the &quot;random&quot; policy &lt;falls&gt; &amp; stops"' in tagged
