"""`a3c_cartpole.train`: the command line's training run, called from Python with the flags as keywords.

The keywords are TrainConfig's fields, and their help is the one `--help` shows (config.option),
so the two cannot drift apart. Importing this module is cheap: the settings and the env are
checked first, and TensorFlow loads only after that, with its C++ start-up lines muted.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from a3c_cartpole.config import ConfigError, TrainConfig, option_default, option_keyword, python_spelling
from a3c_cartpole.presets import resolve_config
from a3c_cartpole.tf_setup import import_tensorflow_quietly

if TYPE_CHECKING:
    import gymnasium as gym

    from a3c_cartpole.training.result import TrainResult

PYTHON_DEFAULTS = {"verbose": False}
"""Where `train` differs from `--train`: a program that calls it prints nothing unless asked."""
SHOWN_IN_PYTHON = {"seed": "random"}
"""Defaults whose words in --help speak of other modes (--play's seed)."""


def run_training(given: dict[str, Any], preset: str | None = None, progress: TextIO | None = None) -> TrainResult:
    """Resolve the settings (defaults, preset, `given`), check the env and the save dir, then load
    TensorFlow and train: every refusal comes before the seconds TensorFlow takes to load.

    `given` holds TrainConfig field names and only the values the user set; `progress` is where live
    progress goes (stdout by default).
    """
    from a3c_cartpole.envs.spec import describe_env
    from a3c_cartpole.training.save_dir import check_save_dir

    config = resolve_config(given, preset)
    info = describe_env(config.env_id, config.env_kwargs, config.env_package)
    check_save_dir(config)  # a run in progress there, or one a fresh start would replace
    import_tensorflow_quietly()
    import threadpoolctl

    from a3c_cartpole.a3c.master import MasterAgent

    # One BLAS thread while training: the workers are the parallelism (see child_process.ONE_THREAD_EACH)
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        return MasterAgent(config, progress, info).train()


def train(
    env: str | None = None,
    *,
    env_kwargs: dict[str, Any] | None = None,
    env_package: str | None = None,
    save_dir: str | Path | None = None,
    seed: int | None = None,
    preset: str | None = None,
    lr: float | None = None,
    optimizer: str | None = None,
    lr_schedule: str | None = None,
    gamma: float | None = None,
    gae_lambda: float | None = None,
    update_freq: int | None = None,
    max_eps: int | None = None,
    max_steps: int | None = None,
    workers: int | None = None,
    envs_per_worker: int | None = None,
    entropy_coef: float | None = None,
    value_coef: float | None = None,
    network: str | None = None,
    hidden: int | None = None,
    layers: int | None = None,
    activation: str | None = None,
    max_grad_norm: float | None = None,
    clip_per_head: bool | None = None,
    normalize_obs: bool | None = None,
    normalize_reward: bool | None = None,
    normalize_advantage: bool | None = None,
    target_score: float | None = None,
    eval_episodes: int | None = None,
    eval_every: int | None = None,
    early_stop: bool | None = None,
    verbose: bool | None = None,
    resume: bool | None = None,
    overwrite: bool | None = None,
    stop_when_solved_again: bool | None = None,
    checkpoint_every: int | None = None,
    backend: str | None = None,
    gradients: str | None = None,
    ray_address: str | None = None,
) -> TrainResult:
    keywords = locals()  # exactly the parameters: one per TrainConfig field (tests/test_api.py holds them to it)
    given = {**PYTHON_DEFAULTS}
    given.update(
        (field.name, keywords[option_keyword(field)])
        for field in dataclasses.fields(TrainConfig)
        if field.name != "preset" and keywords[option_keyword(field)] is not None
    )
    try:
        return run_training(given, preset)
    except ConfigError as err:  # the shared checks name flags: name this function's keywords instead
        raise ConfigError(python_spelling(str(err))) from None


def _docstring() -> str:
    """train()'s docstring: a paragraph on how settings resolve, then every keyword with its help and default."""
    lines = []
    for field in dataclasses.fields(TrainConfig):
        default = PYTHON_DEFAULTS.get(field.name, option_default(field))
        shown = (
            SHOWN_IN_PYTHON.get(field.name)
            or field.metadata.get("shown")
            or repr(str(default) if isinstance(default, Path) else default)
        )
        choices = field.metadata.get("choices")
        named_in_help = "metavar" in field.metadata  # a choice shown by a metavar lists its values in its help
        allowed = f", one of {', '.join(map(repr, choices))}" if choices and not named_in_help else ""
        help_ = python_spelling(f"{field.metadata['help']}{allowed} (default: {shown})")
        lines.append(f"    {option_keyword(field)}: {help_}")
    return (
        "Train A3C on a gymnasium env, as `a3c-cartpole --train` does, and return a TrainResult.\n\n"
        "Each keyword is the flag of the same name (`env` is --env, `early_stop=False` is --no-early-stop).\n"
        'One left out (None) takes the env\'s preset -- or the one `preset` names; "none" for no preset --\n'
        "and then the default shown. It prints nothing unless given verbose=True. Bad values raise\n"
        "ConfigError (a ValueError) before TensorFlow loads. A save dir that holds a run of the env is\n"
        "refused unless given resume=True (continue it) or overwrite=True (replace it).\n\n"
        "    >>> result = a3c_cartpole.train(env='CartPole-v1', seed=0, overwrite=True)   # doctest: +SKIP\n"
        "    >>> result.solved, result.files.best_weights                                  # doctest: +SKIP\n\n"
        "Keywords:\n" + "\n".join(lines) + "\n"
    )


train.__doc__ = _docstring()


def make_env(
    env: str, *, env_kwargs: dict[str, Any] | None = None, env_package: str | None = None, **options: Any
) -> gym.Env:
    """The env as the agent sees it when it plays, for your own loop with a loaded policy.

    For most envs that is `gymnasium.make(env, **env_kwargs)`; a game gets the wrappers it was trained
    with (Atari: 84x84 grey frames, 4 stacked, frame skipping), without the training-only ones, so
    rewards are the game's real score. `options` go to gymnasium.make (e.g. render_mode="rgb_array").

    >>> env = a3c_cartpole.make_env("ALE/Pong-v5")         # doctest: +SKIP
    >>> policy = a3c_cartpole.load_policy("a3c_runs")       # doctest: +SKIP
    >>> obs, _ = env.reset(seed=0); action = policy(obs)    # doctest: +SKIP
    """
    from a3c_cartpole.envs import making
    from a3c_cartpole.envs.spec import describe_env

    return making.make_env(describe_env(env, env_kwargs, env_package), **options)
