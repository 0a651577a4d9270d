"""Games from pixels: the conv torso against hand-computed values, its numpy acting copy, an image task
learnt to its optimum, MinAtar's registration, Atari's wrappers, and a saved conv agent played back."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import a3c_cartpole
from a3c_cartpole.a3c.global_model import GradientLink
from a3c_cartpole.a3c.rollout import RolloutCollector
from a3c_cartpole.cli import main
from a3c_cartpole.config import ConfigError
from a3c_cartpole.envs import atari
from a3c_cartpole.envs.making import make_env
from a3c_cartpole.envs.spec import describe_env
from a3c_cartpole.networks.spec import NetworkSpec, choose_network
from a3c_cartpole.training.outputs import RunFiles
from tests.conftest import fixed_policy
from tests.scripted_envs import LitSideEnv, LivesEnv, registered

LIT = "LitSide-v0"
LIT_STEPS = 10  # per episode: the optimum scores 10, a policy blind to the image 5


def build(spec: NetworkSpec):
    from a3c_cartpole.networks.build import build_model

    return build_model(spec)


def hand_set_weights(model) -> None:
    """Filter 0 of the 3x3 convolution sums its window; every other weight is 0 except: the dense
    layer's unit 0 reads filter 0 at the four output positions with weights 1, 10, 100, 1000; logit 0
    is that unit, logit 1 minus it; the value half of it."""
    for variable in model.ordered_variables():
        variable.assign(np.zeros(variable.shape, np.float32))
    conv, dense = model.conv_layers()[0], model.torso_dense
    kernel = np.zeros(conv.kernel.shape, np.float32)
    kernel[:, :, 0, 0] = 1.0
    conv.kernel.assign(kernel)
    weights = np.zeros(dense.kernel.shape, np.float32)
    for position, weight in enumerate((1.0, 10.0, 100.0, 1000.0)):
        weights[position * 16 + 0, 0] = weight  # flat index of (row, column, filter) = (r * 2 + c) * 16 + f
    dense.kernel.assign(weights)
    logits = np.zeros(model.policy_logits.kernel.shape, np.float32)
    logits[0] = (1.0, -1.0)
    model.policy_logits.kernel.assign(logits)
    value = np.zeros(model.value_out.kernel.shape, np.float32)
    value[0, 0] = 0.5
    model.value_out.kernel.assign(value)


# The 4x4 identity image: the 3x3 windows at (0,0) and (1,1) hold three lit cells, those at (0,1) and
# (1,0) two, so unit 0 is 3*1 + 2*10 + 2*100 + 3*1000 = 3223.
IDENTITY = np.eye(4, dtype=np.uint8)
UNIT = 3223.0


@pytest.mark.parametrize("channels_first", [False, True], ids=["HWC", "CHW"])
def test_conv_torso_on_a_hand_made_image_gives_the_hand_computed_logits_and_value(channels_first):
    shape = (1, 4, 4) if channels_first else (4, 4, 1)
    spec = choose_network("auto", shape, 2)
    assert spec.kind == "minatar" and spec.channels_first == channels_first
    model = build(spec)
    hand_set_weights(model)
    image = IDENTITY.reshape(1, *shape)
    logits, value = model(image)
    np.testing.assert_allclose(logits.numpy(), [[UNIT, -UNIT]])
    np.testing.assert_allclose(value.numpy(), [UNIT / 2])
    copy = model.snapshot()
    np.testing.assert_allclose(copy.logits(image), [[UNIT, -UNIT]])
    np.testing.assert_allclose(copy.values(image), [UNIT / 2])


@pytest.mark.parametrize(("shape", "torso"), [((10, 10, 4), "minatar"), ((4, 36, 36), "nature")])
def test_the_numpy_acting_copy_equals_the_keras_forward_pass(shape, torso):
    spec = choose_network("auto", shape, 5, pixels=True, obs_dtype="uint8")
    assert spec.kind == torso and spec.input_scale == pytest.approx(1 / 255)
    model = build(spec)
    images = np.random.default_rng(0).integers(0, 256, (6, *shape), dtype=np.uint8)
    logits, values = model(images)
    copy = model.snapshot()
    np.testing.assert_allclose(copy.logits(images), logits.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(copy.values(images), values.numpy(), rtol=1e-4, atol=1e-5)
    again = build(spec)
    again.load_snapshot(copy)  # and back: what saving and resuming rely on
    np.testing.assert_array_equal(again.snapshot().logits(images), copy.logits(images))


@pytest.mark.parametrize(
    ("network", "shape", "options", "says"),
    [
        ("mlp", (10, 10, 4), {}, "--network mlp reads a flat observation"),
        ("cnn", (8,), {}, "--network cnn reads images"),
        ("auto", (10, 10, 4), {"normalize_obs": True}, "--normalize-obs applies to the MLP only"),
        ("auto", (10, 10, 4), {"clip_per_head": True}, "--clip-per-head applies to the MLP only"),
    ],
)
def test_a_network_that_cannot_read_the_observation_is_refused(network, shape, options, says):
    with pytest.raises(ConfigError, match=says):
        choose_network(network, shape, 2, **options)


@pytest.fixture(scope="module")
def lit_run(tmp_path_factory):
    """The image task trained with the CNN until its greedy policy averages 9.5 of the optimum's 10."""
    save_dir = tmp_path_factory.mktemp("lit")
    with registered(LIT, LitSideEnv, max_episode_steps=LIT_STEPS, reward_threshold=9.5):
        result = a3c_cartpole.train(
            env=LIT, seed=0, workers=1, save_dir=save_dir, max_steps=60_000, lr=1e-3, eval_every=2000, verbose=False
        )
        yield save_dir, result


def test_a_cnn_learns_an_image_task_to_its_optimum(lit_run):
    # A policy blind to the image scores 5; the optimum 10. Learnt in ~10k env steps on seeds 0-2.
    save_dir, result = lit_run
    assert result.solved and result.best_evaluation.mean >= 9.5
    record = RunFiles(save_dir, LIT).run_record.read_text()
    assert '"kind": "minatar"' in record


def test_a_saved_cnn_agent_plays_back_with_play_and_load_policy(lit_run, capsys):
    save_dir, _ = lit_run  # the env stays registered while the fixture lives
    policy = a3c_cartpole.load_policy(save_dir)
    env = gym.make(LIT)
    obs, _ = env.reset(seed=3)
    right = 0
    for _ in range(50):
        action = policy(obs)
        side = int(np.argwhere(obs[..., 0])[0][1] > 2)
        right += action == side
        obs, *_ = env.step(action)
    assert right >= 48  # the greedy policy reads the image
    assert main(["--play", "--env", LIT, "--episodes", "5", "--save-dir", str(save_dir)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"{LIT}: mean 10.00 ± 0.00")


def test_a_minatar_recording_draws_the_grid_in_colour(tmp_path):
    pytest.importorskip("minatar")
    from a3c_cartpole.envs.minatar import CELL_PIXELS, frame

    state = np.zeros((10, 10, 4), bool)
    state[9, 2, 0] = True  # Breakout's paddle channel, bottom row
    state[0, :, 3] = True  # a row of bricks
    picture = frame(state)
    assert picture.shape == (10 * CELL_PIXELS, 10 * CELL_PIXELS, 3) and picture.dtype == np.uint8
    cell = lambda row, col: tuple(picture[row * CELL_PIXELS, col * CELL_PIXELS])  # noqa: E731
    assert cell(9, 2) != (0, 0, 0) and cell(0, 5) not in ((0, 0, 0), cell(9, 2)) and cell(5, 5) == (0, 0, 0)


@pytest.mark.parametrize(("backend", "env_id"), [("processes", LIT), ("ray", "MinAtar/Breakout-v1")])
def test_a_cnn_trains_and_saves_on_every_backend(lit_run, backend, env_id, tmp_path):
    # Rollout processes make the image task from its spec (registered while lit_run lives); a Ray actor
    # knows an env by its id alone, so Ray trains MinAtar's Breakout.
    pytest.importorskip("ray" if backend == "ray" else "numpy")
    pytest.importorskip("minatar" if env_id.startswith("MinAtar/") else "numpy")
    result = a3c_cartpole.train(
        env=env_id, seed=1, workers=2, backend=backend, save_dir=tmp_path, max_steps=3000, eval_every=1000,
        preset="none", verbose=False,
    )  # fmt: skip
    assert result.steps >= 3000 and result.best_evaluation is not None
    assert a3c_cartpole.load_policy(tmp_path).network.spec.kind == "minatar"


def test_one_cnn_worker_differentiating_in_its_process_trains_as_a_thread(lit_run, tmp_path, monkeypatch):
    # With --gradients workers, the processes backend takes a conv net's gradients in the worker's
    # process and applies them in the master; a thread takes and applies them in one step. Same seeds,
    # same rollouts, the same updates up to float32 rounding (the graphs sum in different orders).
    run = dict(env=LIT, seed=2, workers=1, max_steps=2000, eval_every=1000, lr=1e-3, verbose=False)
    a3c_cartpole.train(backend="threads", save_dir=tmp_path / "threads", **run)
    applied = []  # the master's part of each update: applying gradients that came from the worker's process
    apply = GradientLink.train
    monkeypatch.setattr(GradientLink, "train", lambda link, gradients: applied.append(1) or apply(link, gradients))
    a3c_cartpole.train(backend="processes", gradients="workers", save_dir=tmp_path / "processes", **run)
    assert len(applied) >= 2000 // (8 * 5)  # every update of the run
    files = [RunFiles(tmp_path / backend, LIT) for backend in ("threads", "processes")]
    threads, processes = (a3c_cartpole.load_policy(f.final_weights).network.arrays() for f in files)
    for x, y in zip(threads, processes, strict=True):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-6)
    logs = [[line.rsplit(",", 1)[0] for line in f.episodes_csv.read_text().splitlines()] for f in files]
    assert len(logs[0]) > 100 and logs[0] == logs[1]  # every episode, but its wall time


def test_minatar_ids_work_with_no_other_step_and_get_a_time_limit():
    pytest.importorskip("minatar")
    script = (
        "from a3c_cartpole.envs.spec import describe_env\n"
        "info = describe_env('MinAtar/Breakout-v1')\n"
        "import gymnasium as gym\n"
        "print(info.obs_shape, info.obs_dtype, info.n_actions, info.reward_threshold)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "(10, 10, 4) uint8 3 None", proc.stderr
    env = make_env(describe_env("MinAtar/SpaceInvaders-v0"))
    assert env.spec.max_episode_steps == 10_000 and env.action_space.n == 6  # -v0: the full action set


def test_a_missing_game_extra_is_one_line_naming_the_pip_command(monkeypatch):
    for env_id in [key for key in gym.registry if key.startswith("MinAtar/")]:
        monkeypatch.delitem(gym.registry, env_id)
    for module in ("minatar", "minatar.gym"):  # as if the extra were not installed
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ConfigError, match=r"needs the minatar extra: pip install 'a3c-cartpole\[minatar\]'"):
        describe_env("MinAtar/Breakout-v1")


def test_atari_frames_are_four_stacked_84x84_greyscale_images():
    pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    info = describe_env("ALE/Pong-v5")
    assert (info.obs_shape, info.obs_dtype, info.pixels) == ((4, 84, 84), "uint8", True)
    env = a3c_cartpole.make_env("ALE/Pong-v5")  # a user's loop sees what the agent saw
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert choose_network("auto", info.obs_shape, info.n_actions, pixels=True).kind == "nature"


def test_training_ends_an_episode_per_life_and_logs_each_whole_game_at_its_real_score():
    # LivesEnv: 3 lives of 4 steps each, 5 points a step. Training sees rewards clipped to 1 and an
    # episode end at each lost life; the log sees one game of 12 steps scoring 60.
    envs = gym.vector.SyncVectorEnv([lambda: atari.training_devices(LivesEnv())])
    first, _ = envs.reset(seed=0)
    policy = fixed_policy(72, [0.0, 0.0], 0.0)
    reported = []

    def report(n_steps, finished):
        reported.extend(finished)
        return True

    class Flat:  # the fixed policy reads flat vectors: hand it the flattened frames
        def sample(self, obs, rng):
            return policy.sample(obs.reshape(len(obs), -1), rng)

        def values(self, obs):
            return policy.values(obs.reshape(len(obs), -1))

    rollouts = RolloutCollector(envs, first, np.random.default_rng(0), 0.99, t_max=13, scores_in_info=True)
    batch = rollouts.collect(Flat(), report)
    assert [(game.episode_return, game.length) for game in reported] == [(60.0, 12)]
    # Steps 1-4, 6-8 and 10-12 are the agent's: after each lost life, the next vector step is the
    # (masked) reset, whose no-op plays game steps 5 and 9, and after game over a real reset.
    np.testing.assert_array_equal(batch.mask, [1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0])
    ended = np.flatnonzero(batch.returns == 1.0)  # a terminated step's return is its clipped reward alone
    np.testing.assert_array_equal(ended, [3, 7, 11])
