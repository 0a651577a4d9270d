"""Saving trained weights, and loading them back as a policy (for --play and for Python users).

Which weights, which network and which env: saved_run.py reads that from the run record.
"""

from __future__ import annotations

import io
from pathlib import Path

from keras.src.saving import saving_lib

from a3c_cartpole.config import ConfigError, first_line
from a3c_cartpole.envs.spec import EnvInfo, encode_observation
from a3c_cartpole.networks.acting_copy import ActingPolicy
from a3c_cartpole.networks.actor_critic import ActingCopies
from a3c_cartpole.networks.build import build_model
from a3c_cartpole.networks.spec import NetworkSpec, observation_words
from a3c_cartpole.playback.saved_run import SavedRun, find_run
from a3c_cartpole.training.outputs import atomic_path


def save_weights(policy: ActingPolicy, info: EnvInfo, path: Path, writer: ActingCopies | None = None) -> None:
    """Write a numpy snapshot as a Keras weights file, atomically.

    `writer`, a built model of the same shape whose weights may be overwritten (a run's shared model
    once training is over), saves building one: ~0.1 s at the end of every run.
    """
    if writer is None:
        writer = build_model(policy.spec)
    writer.load_snapshot(policy)
    data = weights_file_bytes(writer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def weights_file_bytes(model: ActingCopies) -> bytes:
    """What `model.save_weights` writes to a `.weights.h5` file, built in memory.

    HDF5 writing straight to a full disk fails part-way through its own buffers, and h5py then
    crashed the process (SIGSEGV while freeing them, seen on a full tmpfs) instead of raising. In
    memory nothing can fail half-way; the bytes go to disk by one plain write, whose OSError is
    reported like any other file's. Keras's public `save_weights` takes only a path, so this goes
    through the store it uses (its `H5IOStore` takes an `io.BytesIO`).
    """
    buffer = io.BytesIO()
    store = saving_lib.H5IOStore(buffer, mode="w")
    saving_lib._save_state(model, weights_store=store, assets_store=None, inner_path="", visited_saveables=set())
    store.close()
    return buffer.getvalue()


def load_model(path: Path, info: EnvInfo, network: NetworkSpec) -> ActingCopies:
    """Rebuild `network` for `info` and load `path` into it; any mismatch is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no weights file at {path}")
    model = build_model(network)
    try:
        model.load_weights(path)
    except Exception as err:  # Keras raises ValueError, OSError or KeyError depending on the damage
        if "could not be loaded" in str(err):  # Keras's words for layers whose shapes differ
            reason = "its layer shapes differ (saved for another env, --hidden or --layers?)"
        else:
            reason = first_line(err)
        raise ConfigError(
            f"cannot load {path} as the {info.env_id} network ({network.describe()} reading "
            f"{observation_words(info.obs_shape)}, {info.n_actions} actions): {reason}"
        ) from None
    return model


class GreedyPolicy:
    """Maps one observation to the action the trained policy rates highest."""

    def __init__(self, network: ActingPolicy, info: EnvInfo) -> None:
        self.network = network
        self.info = info

    @property
    def env_id(self) -> str:
        return self.info.env_id

    def __call__(self, observation) -> int:
        """The greedy action for an observation of the env (an index for a Discrete one, or its one-hot vector)."""
        return int(self.network.greedy(encode_observation(self.info, observation))[0])


def policy_from_run(run: SavedRun) -> GreedyPolicy:
    """Load the weights of a found run into its network (TensorFlow is imported by now)."""
    model = load_model(run.weights, run.info, run.network)
    return GreedyPolicy(model.snapshot(), run.info)


def load_policy(
    path: str | Path, env_id: str | None = None, env_kwargs: dict | None = None, env_package: str | None = None
) -> GreedyPolicy:
    """A greedy policy from a save dir (or a weights file) written by training.

    The env is the run's, as its run record describes it: `env_kwargs` update its keyword
    arguments, `env_package` replaces its package. Observations may come straight from
    `gymnasium.make`: a Discrete one is one-hot encoded as in training.

    >>> policy = load_policy("a3c_runs")          # doctest: +SKIP
    >>> action = policy(env.reset(seed=0)[0])      # doctest: +SKIP
    """
    return policy_from_run(find_run(Path(path), env_id, env_kwargs, env_package))
