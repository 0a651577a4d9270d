"""--play reports and recordings: JSON for scripts, min/max in the summary, GIF and MP4 files."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

from a3c_cartpole.cli import main
from a3c_cartpole.config import ConfigError
from a3c_cartpole.envs.spec import describe_env
from a3c_cartpole.playback import recording
from a3c_cartpole.playback.play import PlayReport, play
from a3c_cartpole.playback.saved_policy import GreedyPolicy, save_weights
from tests.conftest import fixed_policy

# Always pushes right: CartPole-v1 falls after a handful of steps, so episodes are short and known.
ALWAYS_RIGHT = fixed_policy(4, [0.0, 1.0], 0.0)


@pytest.fixture
def save_dir(tmp_path):
    """A save dir holding a hand-built 'trained' model, as --play expects to find it."""
    info = describe_env("CartPole-v1")
    save_weights(ALWAYS_RIGHT, info, tmp_path / "CartPole-v1_best.weights.h5")
    (tmp_path / "CartPole-v1_run.json").write_text(json.dumps({"env_id": "CartPole-v1", "hidden": 1}))
    return tmp_path


def episode_lengths(episodes: int, seed: int = 0) -> list[int]:
    """Lengths of CartPole-v1 episodes on seeds seed, seed+1, ... when every action is 1 (push right),
    played with plain gymnasium: what ALWAYS_RIGHT must score, found without the code under test."""
    env = gym.make("CartPole-v1")
    lengths = []
    for episode_seed in range(seed, seed + episodes):
        env.reset(seed=episode_seed)
        length, done = 0, False
        while not done:
            _, _, terminated, truncated, _ = env.step(1)
            length, done = length + 1, terminated or truncated
        lengths.append(length)
    env.close()
    return lengths


def test_play_json_prints_one_object_and_nothing_else(save_dir, capsys):
    code = main(["--play", "--json", "--episodes", "3", "--save-dir", str(save_dir)])
    out = capsys.readouterr().out
    assert code == 0 and out.count("\n") == 1
    report = json.loads(out)
    returns = episode_lengths(3)  # CartPole pays 1 a step
    assert min(returns) >= 5 and max(returns) <= 15  # pushing one way topples the pole within ~10 steps
    assert report["episodes"] == 3 and report["threshold"] == 475.0 and report["judged_over"] == 100
    assert report["solved"] is None  # three episodes are no verdict
    assert report["mean"] == pytest.approx(np.mean(returns)) and report["std"] == pytest.approx(np.std(returns))
    assert (report["min"], report["max"]) == (min(returns), max(returns))


def test_play_json_sends_each_episode_line_to_stderr(save_dir, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)  # the no-display notice goes to stderr as well
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code = main(["--play", "--json", "--episodes", "3", "--save-dir", str(save_dir)])
    captured = capsys.readouterr()
    assert code == 0
    expected = [f"episode {i + 1}: return {length}" for i, length in enumerate(episode_lengths(3))]
    assert [line for line in captured.err.splitlines() if line.startswith("episode ")] == expected
    assert "display" in captured.err.lower()
    assert "episode" not in captured.out.replace('"episodes"', "")  # stdout: the JSON object only


def test_play_summary_gives_min_and_max():
    text = PlayReport("CartPole-v1", np.array([10.0, 30.0, 20.0]), 475.0).summary()
    assert "mean 20.0 ± 8.2 (min 10, max 30) over 3 episodes; below the solved threshold of 475, but" in text


def test_play_gives_a_verdict_only_over_as_many_episodes_as_the_solved_check():
    # 100 episodes, half 470 and half 490: mean 480 >= 475, judged as training judges a look's set
    text = PlayReport("CartPole-v1", np.r_[np.full(50, 470.0), np.full(50, 490.0)], 475.0).summary()
    assert text.endswith("over 100 episodes; meets the solved threshold of 475")
    report = PlayReport("CartPole-v1", np.full(100, 470.0), 475.0)
    assert report.summary().endswith("over 100 episodes; does not meet the solved threshold of 475")
    assert report.as_dict()["solved"] is False
    text = PlayReport("CartPole-v1", np.full(5, 480.0), 475.0).summary()
    assert text.endswith(
        "over 5 episodes; at or above the solved threshold of 475, "
        "but solved is judged over 100 episodes (--episodes 100)"
    )


def test_json_with_the_random_baseline_is_refused(capsys):
    assert main(["--algorithm=random", "--json"]) != 0
    assert capsys.readouterr().err.count("\n") == 1


def test_gif_keeps_every_other_frame(tmp_path):
    from PIL import Image

    path = tmp_path / "run.gif"
    play(GreedyPolicy(ALWAYS_RIGHT, describe_env("CartPole-v1")), 2, 0, record=path, echo=lambda _: None)
    expected = sum((n + 1) // 2 for n in episode_lengths(2))  # frames before steps 0, 2, 4, ...
    with Image.open(path) as gif:
        assert gif.n_frames == expected and gif.size == (300, 200)


def test_mp4_keeps_every_frame_at_full_size(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    import imageio.v2 as imageio

    path = tmp_path / "run.mp4"
    play(GreedyPolicy(ALWAYS_RIGHT, describe_env("CartPole-v1")), 2, 0, record=path, echo=lambda _: None)
    reader = imageio.get_reader(path, format="FFMPEG")
    try:
        frames = sum(1 for _ in reader)
        assert frames == sum(episode_lengths(2))
        assert reader.get_meta_data()["size"] == (600, 400)
    finally:
        reader.close()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_mp4_without_the_video_extra_names_the_extra(monkeypatch, save_dir, capsys, tmp_path):
    monkeypatch.setattr(recording, "find_spec", lambda name: None if name == "imageio_ffmpeg" else object())
    with pytest.raises(ConfigError, match=r"pip install 'a3c-cartpole\[video\]'"):
        recording.record_format(tmp_path / "run.mp4")
    code = main(["--play", "--record", str(tmp_path / "run.mp4"), "--save-dir", str(save_dir)])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "a3c-cartpole[video]" in err
    assert not (tmp_path / "run.mp4").exists()


def test_unknown_record_format_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"supports \.gif, \.mp4"):
        recording.record_format(tmp_path / "run.avi")


def gif_frames_shown(path) -> int:
    """Frames of a GIF at 40 ms each (Pillow merges identical neighbours into one longer frame)."""
    from PIL import Image, ImageSequence

    with Image.open(path) as gif:
        return sum(frame.info["duration"] for frame in ImageSequence.Iterator(gif)) // 40


def test_a_gif_holds_whole_episodes_up_to_its_cap_and_says_how_many(tmp_path, monkeypatch):
    cap = 12
    monkeypatch.setattr(recording, "GIF_MAX_FRAMES", cap)
    per_episode = [(n + 1) // 2 for n in episode_lengths(6)]  # frames before steps 0, 2, 4, ...
    fitting = next(k for k in range(7) if k == 6 or sum(per_episode[: k + 1]) > cap)  # whole episodes in the cap
    assert 0 < fitting < 6  # the cap falls inside the run, so the test means something
    lines = []
    path = tmp_path / "run.gif"
    play(GreedyPolicy(ALWAYS_RIGHT, describe_env("CartPole-v1")), 6, 0, record=path, echo=lines.append)
    frames = sum(per_episode[:fitting])
    assert gif_frames_shown(path) == frames
    assert lines[-1] == (
        f"Recorded {fitting} of 6 episodes ({frames} frames) to {path}: a GIF holds whole episodes up to "
        f"{cap} frames (an .mp4 holds all)"
    )


def test_a_first_episode_longer_than_the_cap_is_kept_cut_and_said_so(tmp_path, monkeypatch):
    monkeypatch.setattr(recording, "GIF_MAX_FRAMES", 3)
    assert (episode_lengths(1)[0] + 1) // 2 > 3
    lines = []
    path = tmp_path / "run.gif"
    play(GreedyPolicy(ALWAYS_RIGHT, describe_env("CartPole-v1")), 2, 0, record=path, echo=lines.append)
    assert gif_frames_shown(path) == 3
    assert lines[-1].startswith(f"Recorded 1 of 2 episodes (3 frames) to {path}: the first 3 frames of the first")


def test_downscaling_averages_each_block_of_four_pixels():
    frame = np.array([[[0], [4], [10], [10]], [[8], [4], [250], [255]]], dtype=np.uint8)  # 2 x 4, one channel
    # blocks: (0 + 4 + 8 + 4) / 4 = 4; (10 + 10 + 250 + 255) / 4 = 131.25 -> 131
    assert recording.downscale(frame, 2).tolist() == [[[4], [131]]]
