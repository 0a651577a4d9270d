"""The solved check: does the greedy policy average the env's threshold over 100 episodes?

Training returns come from the sampling policy and lag far behind the greedy policy (on
CartPole-v1 the greedy policy often passes while the training average is far below the threshold), and
the tutorial's rule (mean of the last 100 training episodes) is both slow and noisy. So the master
evaluates the greedy policy itself, in one batched vector env, whenever recent training returns are
within |threshold| of the threshold, for at most a fifth of the wall time. An evaluation of a bad
policy is cheap: its episodes are short. A pass is confirmed on a second set of fresh episodes, so
one lucky batch cannot end training, and the confirmation's mean must clear the threshold by two
standard errors of itself: a policy whose true mean sits just under the threshold (LunarLander's
agents: a spread of 65 to 91 points an episode, one episode in seven under 100; a standard error of
6.5 to 9 on the mean of 100) would otherwise pass now and then in a long run of looks, and its saved
agent then falls short on fresh episodes. Where every episode scores the same (a balanced CartPole),
the margin is nothing.

Where the greedy policy's score swings from one moment to the next (LunarLander), a fifth of the
time is too few looks: `eval_every` evaluates every so many env steps instead, as SB3's
EvalCallback does, and the best model is the best of more candidates.

Most looks are at a policy that can neither pass nor beat the best model so far, and on long
episodes (Acrobot, LunarLander) 100 of them cost as many env steps as the training between looks.
So a look plays its first 20 episodes and the rest of the 100 only if their mean is within two
standard errors of the bar (the threshold, or the best mean if lower). A policy whose true mean is
at the bar goes on in about 97% of looks; one far below costs a fifth of a full set.
"""

from __future__ import annotations

import dataclasses
import time
import typing

import numpy as np
from gymnasium.envs.registration import EnvSpec

from a3c_cartpole.envs.making import steps_all_at_once
from a3c_cartpole.envs.registry import register_as_the_parent_did, registration_for_a_child
from a3c_cartpole.envs.spec import EnvInfo
from a3c_cartpole.evaluation.episodes import run_episodes
from a3c_cartpole.networks.acting_copy import NumpyActorCritic

# Evaluation seeds: a block of their own (the training envs': parallel/workers.worker_seeds).
EVAL_SEED_BASE = 1_000_000
# Training episodes whose mean opens the gate, and how close to the threshold it must be.
GATE_EPISODES = 20
GATE_SLACK = 1.0
# At most this share of wall time goes to evaluation.
EVAL_TIME_SHARE = 0.2
# A look's first episodes, and how many standard errors of their mean below the bar still go on.
SCREEN_EPISODES = 20
SCREEN_STANDARD_ERRORS = 2.0
# How many standard errors of its own mean a confirmation must clear the threshold by.
CONFIRM_STANDARD_ERRORS = 2.0


class EvaluationPoint(typing.NamedTuple):
    """One evaluation on the run's timeline: for the plot, the run record and learning curves."""

    episode: int
    step: int
    mean: float
    std: float


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Greedy returns of one evaluation and their verdict against the threshold."""

    returns: np.ndarray
    threshold: float | None
    confirmation: bool = False
    """A second, fresh set played because the first passed: it must clear the threshold by a margin."""

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))

    @property
    def bar(self) -> float | None:
        """The mean that passes: the threshold, raised for a confirmation by CONFIRM_STANDARD_ERRORS of its
        mean's standard errors."""
        if self.threshold is None or not self.confirmation or len(self.returns) < 2:
            return self.threshold
        return self.threshold + CONFIRM_STANDARD_ERRORS * standard_error(self.returns)

    @property
    def solved(self) -> bool:
        return self.threshold is not None and self.mean >= self.bar

    def mean_and_std(self) -> str:
        return format_mean_and_std(self.mean, self.std, self.threshold)

    def described(self) -> str:
        """Its score for the terminal. A confirmation says so and gives its bar: a mean over the
        threshold that does not solve would otherwise read as a bug."""
        score = f"greedy mean {self.mean_and_std()} over {len(self.returns)}"
        if not self.confirmation or self.threshold is None:  # only a threshold can be confirmed
            return f"{score} episodes"
        return f"passed; confirmation: {score} fresh episodes, needs {format_score(self.bar, self.threshold)}"

    def __repr__(self) -> str:
        """Its verdict and score, not its hundred returns (they are `returns`)."""
        return f"Evaluation({self.mean_and_std()!r} over {len(self.returns)} episodes, solved={self.solved})"


def format_mean_and_std(mean: float, std: float, threshold: float | None) -> str:
    """ "mean ± std", with two decimals where the threshold is small: FrozenLake's 0.7 is not 0.66."""
    return f"{format_score(mean, threshold)} ± {format_score(std, threshold)}"


def format_score(value: float, threshold: float | None) -> str:
    """A return-sized number, with two decimals where the threshold is small."""
    digits = 2 if threshold is not None and abs(threshold) < 10 else 1
    return f"{value:.{digits}f}"


class Look(typing.NamedTuple):
    """The weights a check evaluates, and where in the run they were taken."""

    policy: NumpyActorCritic
    episode: int
    step: int
    seconds: float


class SolvedAt(typing.NamedTuple):
    """When the weights that first passed the solved check were taken."""

    episode: int
    step: int
    seconds: float


class CheckOutcome(typing.NamedTuple):
    """What one check played: the set that decides, and whether it is the confirmation (a second set)."""

    returns: np.ndarray
    confirmed: bool


class CheckRequest(typing.NamedTuple):
    """One solved check, as plain data: it may run in another process (evaluation_process.py)."""

    policy: NumpyActorCritic
    info: EnvInfo
    episodes: int
    first_seed: int
    """Seeds first_seed onwards: the set's episodes, then its confirmation's."""
    bar: float | None
    """The mean the screen must be able to reach to play the whole set; None: no screen."""
    registration: EnvSpec | None = None
    """The env's spec, for a process that may not know its id (an env registered at run time)."""


def run_check(request: CheckRequest) -> CheckOutcome:
    """Greedy returns of one set of episodes (or of its screen, if that falls short of the bar), or
    of a second fresh set if the first passes.

    The outcome says whether the set is the confirmation, so the caller counts the seeds used.
    """
    if request.registration is not None:
        register_as_the_parent_did(request.info, request.registration)
    episodes = request.episodes
    play = _episode_player(request)
    screen = episodes if request.bar is None else min(episodes, SCREEN_EPISODES)
    returns = play(0, screen)
    if screen < episodes:
        if falls_short(returns, request.bar):
            return CheckOutcome(returns, False)
        returns = np.concatenate([returns, play(screen, episodes - screen)])
    if not Evaluation(returns, request.info.reward_threshold).solved:
        return CheckOutcome(returns, False)
    return CheckOutcome(play(episodes, episodes), True)


def _episode_player(request: CheckRequest) -> typing.Callable[[int, int], np.ndarray]:
    """play(start, count): the returns of the check's episodes start .. start + count - 1.

    A natively vectorised env (CartPole's) steps 200 envs in about the time it steps 20, so it plays
    the set and its confirmation at once, on the first call: a passing check then costs one
    episode's length of steps instead of three. Other envs step each env in turn, and play only
    what is asked, when it is asked.
    """
    policy, info, first_seed = request.policy, request.info, request.first_seed
    if not steps_all_at_once(info):
        return lambda start, count: run_episodes(info, count, policy.greedy, first_seed + start)
    played = run_episodes(info, 2 * request.episodes, policy.greedy, first_seed)
    return lambda start, count: played[start : start + count]


def falls_short(screen: np.ndarray, bar: float) -> bool:
    """Is the screen's mean more than SCREEN_STANDARD_ERRORS standard errors below `bar`?"""
    return float(np.mean(screen)) + SCREEN_STANDARD_ERRORS * standard_error(screen) < bar


def standard_error(returns: np.ndarray) -> float:
    """How far the mean of `returns` may lie from the policy's true mean: their sample std over sqrt(n)."""
    return float(np.std(returns, ddof=1)) / np.sqrt(len(returns))


class SolvedCheck:
    """Decides when an evaluation is worth its cost, runs it, and remembers the best and when the run
    was solved: every count a checkpoint keeps of the checks lives here."""

    def __init__(self, info: EnvInfo, episodes: int, every_steps: int | None = None) -> None:
        self.info = info
        self.registration = registration_for_a_child(info)
        """What a check in another process needs to make the env; None: no other process can (its class
        is defined in __main__), and the checks run in the training process."""
        self.episodes = episodes
        self.every_steps = every_steps
        self.count = 0
        self.seconds = 0.0  # spent on checks, wherever they ran: the run record reports their share
        self.best: Evaluation | None = None
        self.best_policy: NumpyActorCritic | None = None
        """The weights of `best`, if this session evaluated them (a resumed run's saved best is on disk)."""
        self.history: list[EvaluationPoint] = []
        self.solved_at: SolvedAt | None = None
        self.passed_at: float | None = None  # epoch time of this session's first pass, for the run record's timeline
        self._next_allowed = 0.0  # wall clock, under the time share
        self._next_step = 0  # env steps, under every_steps
        threshold = info.reward_threshold
        self.gate = None if threshold is None else threshold - GATE_SLACK * abs(threshold)

    def due(self, recent_training_mean: float | None, n_episodes: int, steps: int) -> bool:
        """Could the policy pass now, and is it time to look (by the step interval or the time share)?

        Without a threshold (a game), any moment may bring a new best model: only the interval decides.
        """
        gated = self.gate is not None
        if gated and (recent_training_mean is None or n_episodes < GATE_EPISODES or recent_training_mean < self.gate):
            return False
        if self.every_steps is not None:
            if steps < self._next_step:
                return False
            self._next_step = steps + self.every_steps
            return True
        return time.perf_counter() >= self._next_allowed

    def request(self, policy: NumpyActorCritic) -> CheckRequest:
        """The next check of `policy`, on seeds no earlier check used.

        Its screen's bar is the threshold, or the best mean if lower: a look that stops at the screen
        can then neither pass nor become the best, unless nothing was evaluated before it.
        """
        first = EVAL_SEED_BASE + self.count * self.episodes  # every evaluation gets fresh episodes
        threshold = self.info.reward_threshold
        best = None if self.best is None else self.best.mean
        bar = best if threshold is None else threshold if best is None else min(threshold, best)
        return CheckRequest(policy, self.info, self.episodes, first, bar, self.registration)

    def finish(self, returns: np.ndarray, confirmed: bool, seconds: float) -> Evaluation:
        """Account for a check that took `seconds` (its seeds are spent, the time share moves on)."""
        self.count += 2 if confirmed else 1
        self.seconds += seconds
        self._next_allowed = time.perf_counter() + seconds * (1 - EVAL_TIME_SHARE) / EVAL_TIME_SHARE
        return Evaluation(returns, self.info.reward_threshold, confirmation=confirmed)

    def evaluate(self, policy: NumpyActorCritic) -> Evaluation:
        """Evaluate here and now on fresh seeds; a pass counts only if a second fresh set passes too."""
        start = time.perf_counter()
        returns, confirmed = run_check(self.request(policy))
        return self.finish(returns, confirmed, time.perf_counter() - start)

    def is_best(self, result: Evaluation) -> bool:
        """Record `result` if it beats every earlier evaluation."""
        if self.best is None or result.mean > self.best.mean:
            self.best = result
            return True
        return False

    def record(self, look: Look, result: Evaluation) -> bool:
        """Put `result` on the run's timeline; keep its policy if it is the best so far (returns whether it
        is), and the look's moment if it is the run's first pass."""
        self.history.append(EvaluationPoint(look.episode, look.step, result.mean, result.std))
        best = self.is_best(result)
        if best:
            self.best_policy = look.policy  # written once at the end: a save costs the workers ~0.1 s of GIL
        if result.solved and self.solved_at is None:
            self.solved_at = SolvedAt(look.episode, look.step, look.seconds)
            self.passed_at = time.time()
        return best

    def state(self) -> dict:
        """What a checkpoint keeps of the checks, as the run state's fields (training/checkpoints.py)."""
        return {
            "eval_count": self.count,
            "evaluations": [list(point) for point in self.history],
            "best_eval_returns": None if self.best is None else [float(x) for x in self.best.returns],
            "solved_at": None if self.solved_at is None else list(self.solved_at),
        }

    def restore(self, saved) -> None:
        """Continue the checks of a resumed run from `saved`, a run state with the fields `state` gives."""
        self.count = saved.eval_count
        self.history = [EvaluationPoint(*point) for point in saved.evaluations]
        if saved.best_eval_returns:
            self.best = Evaluation(np.asarray(saved.best_eval_returns), self.info.reward_threshold)
        self.solved_at = SolvedAt(*saved.solved_at) if saved.solved_at else None
