"""One typed object for every training option, shared by the CLI, the Python API and the tests.

argparse is the user's interface; this dataclass is what the rest of the package reads, so that
a run started from Python validates exactly like a run started from the shell.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

BACKENDS = ("threads", "processes", "ray")
"""Where the workers act: threads of this process, a child process each, or Ray actors (local or a cluster)."""

GRADIENTS = ("learner", "workers")
"""Who differentiates a worker's rollout on the processes backend: the master's one learner, or the worker."""

OPTIMIZERS = ("adam", "rmsprop")
"""The shared optimizer: the tutorial's Adam, or RMSprop as the A3C paper and SB3's A2C use it."""

ACTIVATIONS = ("relu", "tanh")
"""Hidden-layer nonlinearity: the tutorial's relu, or tanh (SB3's and CleanRL's choice for MLP policies)."""

NETWORKS = ("auto", "mlp", "cnn")
"""The network: auto picks the tutorial's MLP for a flat observation and a conv net for an image."""

LR_SCHEDULES = ("constant", "linear")
"""Learning rate over the run: fixed, or decaying linearly to 0 at the --max-steps budget."""


class ConfigError(ValueError):
    """Bad user input: reported as one line on stderr, never as a traceback."""


def first_line(err: BaseException) -> str:
    """The gist of a library's exception, for a one-line message (some span many lines)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class WorkerFailed(RuntimeError):
    """A worker, the evaluation process or the env failed: the run stopped and saved what it had
    learned (or --play stopped); reported in one line, exit code 1."""


# numpy and gymnasium take seeds in [0, 2**32); envs and evaluations add offsets to the seed.
MAX_SEED = 2**31 - 1


def require_positive(flag: str, value: int | None) -> None:
    """Counts must be >= 1 (None means 'not given')."""
    if value is not None and value <= 0:
        raise ConfigError(f"{flag} must be a positive integer, got {value}")


def require_seed(value: int | None) -> None:
    if value is not None and not 0 <= value <= MAX_SEED:
        raise ConfigError(f"--seed must be between 0 and {MAX_SEED}, got {value}")


def require_env_kwargs(env_kwargs: Any) -> None:
    """Env keyword arguments must be named by strings, and storable in the run record (JSON)."""
    if not isinstance(env_kwargs, dict) or not all(isinstance(key, str) for key in env_kwargs):
        raise ConfigError(f"--env-kwargs must map names to values, got {env_kwargs!r}")
    try:
        json.dumps(env_kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"--env-kwargs must be numbers, strings, booleans, None, lists or dicts: {err}") from None


ENVIRONMENT, TRAINING, SCALING = "environment", "training", "scaling"
"""Groups of options, as --help shows them."""


def option(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    group: str = TRAINING,
    factory: Callable[[], Any] | None = None,
    **how,
) -> Any:
    """A TrainConfig field with what a user needs to set it, kept in one place.

    `help` is the one line that both `--help` and the docstring of `a3c_cartpole.train` show.
    `how` may name: `flag` (default --field-name), `flag_help` (where the flag says the opposite of
    the field, as --quiet does of verbose), `keyword` (train()'s name, default the field's),
    `metavar`, `choices`, and `shown` (the default in words, where it is computed at run time).
    """
    metadata = {"help": help, "group": group, **how}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Options of one A3C training run."""

    env_id: str = option(
        "CartPole-v1",
        help="gymnasium id, or MODULE:ID",
        group=ENVIRONMENT,
        flag="--env",
        keyword="env",
        metavar="ID",
    )
    """Any env with a Discrete action space and a flat Box or a Discrete (one-hot encoded) observation."""
    env_kwargs: dict = option(
        help="env arguments, e.g. map_name=8x8",
        group=ENVIRONMENT,
        factory=dict,
        metavar="K=V",
    )
    """Passed to gymnasium.make; kept in the run record, so --play and load_policy make the same env."""
    env_package: str | None = option(
        None, help="module to import first (registers your envs)", group=ENVIRONMENT, metavar="MODULE"
    )
    save_dir: Path = option(Path("a3c_runs"), help="runs are saved here", group=ENVIRONMENT, metavar="DIR")
    """Not /tmp, so that --play finds what --train wrote."""
    seed: int | None = option(
        None,
        help="seeds all draws",
        group=ENVIRONMENT,
        metavar="N",
        shown="random to train, else 0",
    )
    preset: str | None = option(None, help="tuned settings, or none", metavar="NAME", shown="the env's own")
    """The preset the settings were resolved with (presets.resolve_config); recorded, not applied here."""
    lr: float = option(1e-3, help="learning rate")
    """Of the shared optimizer (its starting value under a linear schedule)."""
    optimizer: str = option("adam", help="shared optimizer: adam or rmsprop", choices=OPTIMIZERS, metavar="NAME")
    """rmsprop takes SB3's A2C setting: decay 0.99, epsilon 1e-5."""
    lr_schedule: str = option("constant", help="linear: to 0 at --max-steps", choices=LR_SCHEDULES)
    """A linear schedule keeps late updates from undoing a good policy."""
    gamma: float = option(0.99, help="discount factor, in (0, 1]")
    gae_lambda: float = option(1.0, help="lambda of the returns; 1: n-step")
    """Below 1 trades variance for bias (GAE)."""
    update_freq: int = option(5, help="t_max: steps per env between updates", metavar="N")
    max_eps: int = option(20000, help="exact global episode budget", metavar="N")
    max_steps: int | None = option(None, help="global env-step budget", metavar="N", shown="none")
    """Checked at every vector step, so it overshoots by at most one step per env."""
    workers: int = option(
        help="asynchronous workers", factory=lambda: os.cpu_count() or 1, metavar="N", shown="one per CPU"
    )
    """Each owns its envs and a local copy of the model."""
    envs_per_worker: int = option(8, help="envs each worker steps together", metavar="N")
    """So one forward pass serves many envs."""
    entropy_coef: float = option(0.01, help="beta: weight of the entropy bonus")
    value_coef: float = option(0.5, help="weight of the value loss")
    network: str = option("auto", help="auto: CNN for images, else MLP", choices=NETWORKS)
    """A CNN's torso follows the image: MinAtar's for small grids, the Nature-DQN one from 36x36 up."""
    hidden: int = option(100, help="units per hidden layer", metavar="N")
    layers: int = option(1, help="hidden layers per head; 0: linear", metavar="N")
    """The tutorial's network has one. With none, each head is linear in the observation, and the
    policy's has no bias: on a one-hot observation (Taxi's 500 states) the heads are tables, and a
    bias would be the one term every state's preferences share (ActorCriticModel)."""
    activation: str = option("relu", help="hidden-layer nonlinearity", choices=ACTIVATIONS)
    max_grad_norm: float = option(0.5, help="clip gradients to this norm; 0: off")
    """So one bad rollout cannot wreck the shared model."""
    clip_per_head: bool = option(False, help="clip policy, value gradients apart")
    """A critic's gradient grows with the returns' scale: clipped together, it would shrink the actor's."""
    normalize_obs: bool = option(False, help="scale inputs by running mean, std")
    """The statistics are shared by every worker and saved with the weights."""
    normalize_reward: bool = option(False, help="scale rewards by their returns' std")
    """Training only, as SB3's VecNormalize: the critic's targets keep a scale near 1 whatever the env
    pays, so one learning rate and one clip serve rewards of 1 and of 100. Episodes are logged unscaled."""
    normalize_advantage: bool = option(False, help="advantages to mean 0, std 1")
    """So the policy step does not scale with the rewards."""
    target_score: float | None = option(None, help="greedy mean that solves", metavar="X", shown="env's threshold")
    """For envs with no reward threshold (games), or one no policy meets on most sets of episodes."""
    eval_episodes: int = option(100, help="greedy episodes per solved check", metavar="N")
    """The env's own criterion uses 100; a pass is confirmed on as many fresh ones."""
    eval_every: int | None = option(None, help="env steps between solved checks", metavar="N", shown="auto")
    """None: whenever they take under a fifth of the wall time."""
    early_stop: bool = option(
        True,
        help="stop once the greedy policy meets the env's threshold",
        flag="--no-early-stop",
        flag_help="train on after the solved check passes",
    )
    verbose: bool = option(
        True,
        help="print live progress, not only the summary",
        flag="--quiet",
        flag_help="no live progress, only the summary",
    )
    resume: bool = option(False, help="continue the run in --save-dir", flag="--resume")
    """From its latest checkpoint, with the same env and network; the budgets count the whole run."""
    overwrite: bool = option(False, help="replace the env's earlier run in --save-dir", flag="--overwrite")
    """Without it a fresh start over an earlier run is refused: nothing a user trained is lost silently."""
    stop_when_solved_again: bool = option(
        False, help="a resumed solved run stops at its next pass", flag="--stop-when-solved-again"
    )
    """Early stopping acts once per run; this re-arms it on resuming a solved run."""
    checkpoint_every: int = option(1000, help="updates between checkpoints", metavar="N")
    """One is also written at the end and on Ctrl-C."""
    backend: str = option("threads", help="where workers act", group=SCALING, choices=BACKENDS)
    """"threads": workers act and learn in this process, sharing Python's GIL, which leaves a core to the
    solved checks' process; "processes": each worker thread has a child process act its rollouts, so
    acting uses every core (faster training, slower checks); "ray": Ray actors, on this machine or a
    cluster (pip install 'a3c-cartpole[ray]'). When to pick which: docs/algorithm.md, "Choosing a
    backend and using more cores"."""
    gradients: str = option("learner", help="processes: who differentiates", group=SCALING, choices=GRADIENTS)
    """"learner": the master's one learner differentiates every worker's rollout, while the workers act
    (cheapest where the gradient costs less than acting, or weighs megabytes to ship: an MLP, Atari's
    conv net on two cores); "workers": each worker process differentiates its own, as in the A3C paper,
    and the master only applies them, so the learner is no longer the ceiling as workers are added
    (MinAtar's presets). Threads always share the learner; Ray's actors always take their own."""
    ray_address: str | None = option(
        None, help="cluster: auto or HOST:PORT", group=SCALING, metavar="ADDR", shown="start one"
    )
    """With backend "ray": None starts a private local Ray instance (or joins RAY_ADDRESS, if set)."""

    def __post_init__(self) -> None:
        for flag, value in {
            "--update-freq": self.update_freq,
            "--max-eps": self.max_eps,
            "--max-steps": self.max_steps,
            "--workers": self.workers,
            "--envs-per-worker": self.envs_per_worker,
            "--hidden": self.hidden,
            "--eval-episodes": self.eval_episodes,
            "--eval-every": self.eval_every,
            "--checkpoint-every": self.checkpoint_every,
        }.items():
            require_positive(flag, value)
        require_seed(self.seed)
        if not self.lr > 0:
            raise ConfigError(f"--lr must be > 0, got {self.lr}")
        if not 0 < self.gamma <= 1:
            raise ConfigError(f"--gamma must be in (0, 1], got {self.gamma}")
        if not 0 <= self.gae_lambda <= 1:
            raise ConfigError(f"--gae-lambda must be in [0, 1], got {self.gae_lambda}")
        for flag, value in (
            ("--layers", self.layers),
            ("--entropy-coef", self.entropy_coef),
            ("--value-coef", self.value_coef),
            ("--max-grad-norm", self.max_grad_norm),
        ):
            if not value >= 0:
                raise ConfigError(f"{flag} must be >= 0, got {value}")
        for field in dataclasses.fields(self):
            allowed = field.metadata.get("choices")
            if allowed is not None and getattr(self, field.name) not in allowed:
                raise ConfigError(
                    f"{option_flag(field)} must be one of {', '.join(allowed)}, got {getattr(self, field.name)!r}"
                )
        require_env_kwargs(self.env_kwargs)
        if self.lr_schedule == "linear" and self.max_steps is None:
            raise ConfigError("--lr-schedule linear decays to 0 at the step budget: give --max-steps")
        if self.overwrite and self.resume:
            raise ConfigError("--overwrite starts over and --resume continues: choose one")
        if self.stop_when_solved_again and not (self.resume and self.early_stop):
            raise ConfigError("--stop-when-solved-again goes with --resume, without --no-early-stop")
        if self.gradients == "workers" and self.backend != "processes":
            raise ConfigError(
                "--gradients workers goes with --backend processes "
                "(threads share the master's learner; Ray's actors always take their own)"
            )
        if self.ray_address is not None and self.backend != "ray":
            raise ConfigError("--ray-address goes with --backend ray")
        if self.backend == "ray" and importlib.util.find_spec("ray") is None:
            raise ConfigError("--backend ray needs Ray: install the Ray extra: pip install 'a3c-cartpole[ray]'")
        object.__setattr__(self, "save_dir", Path(self.save_dir))
        object.__setattr__(self, "env_kwargs", dict(self.env_kwargs))  # the caller's dict may change later

    def as_dict(self) -> dict:
        """Every option, JSON-ready (the save dir as a string): the run record and TensorBoard show these."""
        return {
            key: (str(value) if isinstance(value, Path) else value) for key, value in dataclasses.asdict(self).items()
        }


def option_flag(field: dataclasses.Field) -> str:
    """The command-line flag that sets `field`."""
    return field.metadata.get("flag", "--" + field.name.replace("_", "-"))


def option_keyword(field: dataclasses.Field) -> str:
    """The keyword of `a3c_cartpole.train` that sets `field` (the field's own name, except env for env_id)."""
    return field.metadata.get("keyword", field.name)


def python_spelling(text: str) -> str:
    """`text` (a message or a flag's help) with each flag written as `a3c_cartpole.train` takes it:
    --save-dir as save_dir, --resume as resume=True, --no-early-stop as early_stop=False."""
    spelled = {}
    for field in dataclasses.fields(TrainConfig):
        keyword = option_keyword(field)
        if field.type in (bool, "bool") and "flag" in field.metadata:  # a switch: its flag sets the opposite
            keyword = f"{keyword}={not option_default(field)}"
        spelled[option_flag(field)] = keyword
    return re.sub(r"(?<![\w-])--[a-z][a-z-]*(?![\w-])", lambda flag: spelled.get(flag[0], flag[0]), text)


def option_default(field: dataclasses.Field) -> Any:
    """The field's default (computed, for a default factory)."""
    return field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
