"""One typed object for every training option, shared by the CLI, the Python API and the tests.

argparse is the user's interface; this dataclass is what the rest of the package reads, so that
a run started from Python validates exactly like a run started from the shell.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from pathlib import Path

BACKENDS = ("threads", "ray")
"""Worker transports: threads in this process, or Ray actors (local instance or cluster)."""

OPTIMIZERS = ("adam", "rmsprop")
"""The shared optimizer: the tutorial's Adam, or RMSprop as the A3C paper and SB3's A2C use it."""

ACTIVATIONS = ("relu", "tanh")
"""Hidden-layer nonlinearity: the tutorial's relu, or tanh (SB3's and CleanRL's choice for MLP policies)."""

LR_SCHEDULES = ("constant", "linear")
"""Learning rate over the run: fixed, or decaying linearly to 0 at the --max-steps budget."""


class ConfigError(ValueError):
    """Bad user input: reported as one line on stderr, never as a traceback."""


def first_line(err: BaseException) -> str:
    """The gist of a library's exception, for a one-line message (some span many lines)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class WorkerFailed(RuntimeError):
    """A worker died of an error; the run stopped and saved what it had learned."""


# numpy and gymnasium take seeds in [0, 2**32); envs and evaluations add offsets to the seed.
MAX_SEED = 2**31 - 1


def require_positive(flag: str, value: int | None) -> None:
    """Counts must be >= 1 (None means 'not given')."""
    if value is not None and value <= 0:
        raise ConfigError(f"{flag} must be a positive integer, got {value}")


def require_seed(value: int | None) -> None:
    if value is not None and not 0 <= value <= MAX_SEED:
        raise ConfigError(f"--seed must be between 0 and {MAX_SEED}, got {value}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Options of one A3C training run."""

    env_id: str = "CartPole-v1"
    """Gymnasium id; the env needs a discrete action space and a flat Box observation."""
    save_dir: Path = Path("a3c_runs")
    """Where weights, plot, CSV and run record go (not /tmp, so that --play finds them)."""
    lr: float = 1e-3
    """Learning rate of the shared optimizer (its starting value under a linear schedule)."""
    optimizer: str = "adam"
    """"adam" or "rmsprop" (decay 0.99, epsilon 1e-5, SB3's A2C setting)."""
    lr_schedule: str = "constant"
    """"linear" anneals the rate to 0 at max_steps: late updates can no longer undo a good policy."""
    gamma: float = 0.99
    """Discount factor of the returns."""
    gae_lambda: float = 1.0
    """lambda of the returns: 1 keeps the tutorial's n-step returns; below 1 trades variance for bias."""
    update_freq: int = 5
    """t_max: env steps per environment between two global updates."""
    max_eps: int = 20000
    """Exact global episode budget."""
    max_steps: int | None = None
    """Optional global env-step budget (checked at every vector step, so it overshoots by at most one per worker)."""
    workers: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 1)
    """Asynchronous worker threads; each owns its envs and a local copy of the model."""
    envs_per_worker: int = 8
    """Environments each worker steps together, so one forward pass serves many envs."""
    seed: int | None = None
    """Seeds envs, action sampling and weight init; None draws a fresh seed."""
    entropy_coef: float = 0.01
    """beta: weight of the entropy bonus."""
    value_coef: float = 0.5
    """c_v: weight of the critic's squared error."""
    hidden: int = 100
    """Units of each hidden layer."""
    layers: int = 1
    """Hidden layers of each head (the tutorial's network has one)."""
    activation: str = "relu"
    """Nonlinearity of the hidden layers."""
    max_grad_norm: float = 0.5
    """Global-norm clip of every worker gradient, so one bad rollout cannot wreck the shared model."""
    early_stop: bool = True
    """Stop as soon as the greedy policy is verified to meet the env's threshold."""
    eval_episodes: int = 100
    """Greedy episodes of the solved check (the env's own criterion uses 100)."""
    eval_every: int | None = None
    """Env steps between solved checks; None spends at most a fifth of the wall time on them."""
    verbose: bool = True
    """Print live progress and the final summary."""
    backend: str = "threads"
    """Where workers run: "threads" in this process, or "ray" as Ray actors (pip install 'a3c-cartpole[ray]')."""
    ray_address: str | None = None
    """With backend "ray": None starts a private local Ray instance; "auto" or HOST:PORT joins a running cluster."""
    resume: bool = False
    """Continue the run in save_dir from its latest checkpoint (same env and hidden size)."""
    overwrite: bool = False
    """Remove the env's earlier run in save_dir and start over; without it a fresh start there is refused."""
    stop_when_solved_again: bool = False
    """On resuming a solved run, stop at the next passed solved check (early stopping acts once per run otherwise)."""
    checkpoint_every: int = 1000
    """Global updates between two checkpoints (one is also written at the start, at the end and on a stop signal)."""

    def __post_init__(self) -> None:
        for flag, value in {
            "--update-freq": self.update_freq,
            "--max-eps": self.max_eps,
            "--max-steps": self.max_steps,
            "--workers": self.workers,
            "--envs-per-worker": self.envs_per_worker,
            "--hidden": self.hidden,
            "--layers": self.layers,
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
            ("--entropy-coef", self.entropy_coef),
            ("--value-coef", self.value_coef),
            ("--max-grad-norm", self.max_grad_norm),
        ):
            if not value >= 0:
                raise ConfigError(f"{flag} must be >= 0, got {value}")
        for flag, value, allowed in (
            ("--lr-schedule", self.lr_schedule, LR_SCHEDULES),
            ("--optimizer", self.optimizer, OPTIMIZERS),
            ("--activation", self.activation, ACTIVATIONS),
            ("--backend", self.backend, BACKENDS),
        ):
            if value not in allowed:
                raise ConfigError(f"{flag} must be one of {', '.join(allowed)}, got {value!r}")
        if self.lr_schedule == "linear" and self.max_steps is None:
            raise ConfigError("--lr-schedule linear decays to 0 at the step budget: give --max-steps")
        if self.overwrite and self.resume:
            raise ConfigError("--overwrite starts over and --resume continues: choose one")
        if self.stop_when_solved_again and not (self.resume and self.early_stop):
            raise ConfigError("--stop-when-solved-again goes with --resume, without --no-early-stop")
        if self.ray_address is not None and self.backend != "ray":
            raise ConfigError("--ray-address goes with --backend ray")
        if self.backend == "ray" and importlib.util.find_spec("ray") is None:
            raise ConfigError("--backend ray needs Ray: install the Ray extra: pip install 'a3c-cartpole[ray]'")
        object.__setattr__(self, "save_dir", Path(self.save_dir))

    def as_dict(self) -> dict:
        """Every option, JSON-ready (the save dir as a string): the run record and TensorBoard show these."""
        return {
            key: (str(value) if isinstance(value, Path) else value) for key, value in dataclasses.asdict(self).items()
        }
