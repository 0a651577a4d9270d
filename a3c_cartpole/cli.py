"""The `a3c-cartpole` command: parse flags, validate them, dispatch to train, random or play.

TensorFlow takes seconds to import, so it is imported only after the flags are known to be good
and a mode that needs it was chosen: `--help`, `--version` and bad flags answer at once, and so
does a `--train` into a save dir that another run is training or that holds a run it would replace.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from a3c_cartpole import __version__
from a3c_cartpole.config import (
    ACTIVATIONS,
    BACKENDS,
    LR_SCHEDULES,
    OPTIMIZERS,
    ConfigError,
    TrainConfig,
    WorkerFailed,
    require_positive,
    require_seed,
)
from a3c_cartpole.outputs import RunFiles
from a3c_cartpole.save_dir import check_save_dir
from a3c_cartpole.tf_setup import import_tensorflow_quietly

DEFAULTS = TrainConfig.__dataclass_fields__
PLAY_EPISODES = 10
RANDOM_EPISODES = 100

# Exit codes (README, "Stopping and resuming"); a stop signal gives 128 + its number, as a shell reports it.
EXIT_SOLVED = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_SOLVED = 3


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag costs the user one line instead of the whole usage block."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def _default(name: str):
    field = DEFAULTS[name]
    return field.default_factory() if callable(field.default_factory) else field.default


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" only where there is a default to show.

    Options left unset (None) say in their own words what happens without them, and switches
    (False) have nothing to add: "(default: None)" after either would only mislead.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="a3c-cartpole",
        description="Train an A3C agent on CartPole (or another discrete gymnasium env), "
        "play a random baseline, or play a trained agent back.",
        formatter_class=DefaultsHelpFormatter,
    )
    mode = p.add_argument_group("what to do")
    mode.add_argument(
        "--algorithm",
        choices=("a3c", "random"),
        default="a3c",
        help="a3c trains or plays the agent; random plays uniformly random actions",
    )
    mode.add_argument("--train", action="store_true", help="train A3C and save weights, plot and logs")
    mode.add_argument("--play", action="store_true", help="play the saved agent greedily")
    mode.add_argument("--version", action="version", version=f"%(prog)s {__version__}")

    common = p.add_argument_group("common")
    common.add_argument(
        "--env",
        default=_default("env_id"),
        metavar="ID",
        help="gymnasium env id (discrete actions, flat Box observation)",
    )
    common.add_argument(
        "--save-dir", type=Path, default=_default("save_dir"), help="where training writes and --play reads"
    )
    common.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of envs, action sampling and weight init (training: random if not given; --play and random: 0)",
    )

    train = p.add_argument_group("training")
    train.add_argument("--lr", type=float, default=_default("lr"), help="learning rate")
    train.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default=_default("optimizer"),
        help="the shared optimizer (rmsprop: decay 0.99, epsilon 1e-5, as SB3's A2C)",
    )
    train.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        default=_default("lr_schedule"),
        help="linear: anneal --lr to 0 at --max-steps",
    )
    train.add_argument("--gamma", type=float, default=_default("gamma"), help="discount factor, in (0, 1]")
    train.add_argument(
        "--gae-lambda",
        type=float,
        default=_default("gae_lambda"),
        help="lambda of the returns, in [0, 1]: 1 = n-step returns; e.g. 0.95 with a longer --update-freq",
    )
    train.add_argument(
        "--update-freq",
        type=int,
        default=_default("update_freq"),
        help="t_max: steps per env between global updates",
    )
    train.add_argument(
        "--max-eps",
        type=int,
        default=None,
        help=f"global episode budget (training default {_default('max_eps')}; random baseline: episodes to play)",
    )
    train.add_argument("--max-steps", type=int, default=None, help="optional global env-step budget")
    train.add_argument(
        "--workers", type=int, default=_default("workers"), help="asynchronous workers (one per CPU by default)"
    )
    train.add_argument(
        "--envs-per-worker",
        type=int,
        default=_default("envs_per_worker"),
        help="envs each worker steps together",
    )
    train.add_argument(
        "--entropy-coef", type=float, default=_default("entropy_coef"), help="weight of the entropy bonus"
    )
    train.add_argument("--value-coef", type=float, default=_default("value_coef"), help="weight of the value loss")
    train.add_argument(
        "--max-grad-norm",
        type=float,
        default=_default("max_grad_norm"),
        help="clip each gradient to this global norm (0: no clipping)",
    )
    train.add_argument("--hidden", type=int, default=_default("hidden"), help="units per hidden layer")
    train.add_argument("--layers", type=int, default=_default("layers"), help="hidden layers per head")
    train.add_argument(
        "--activation", choices=ACTIVATIONS, default=_default("activation"), help="nonlinearity of the hidden layers"
    )
    train.add_argument(
        "--eval-episodes",
        type=int,
        default=_default("eval_episodes"),
        help="greedy episodes of the solved check (a pass is confirmed on as many fresh ones)",
    )
    train.add_argument(
        "--eval-every",
        type=int,
        default=None,
        metavar="STEPS",
        help="env steps between solved checks (default: whenever they take under a fifth of the time)",
    )
    train.add_argument("--no-early-stop", action="store_true", help="keep training after the solved check passes")
    train.add_argument("--quiet", action="store_true", help="no live progress, only the summary")
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --save-dir from its latest checkpoint (same --env, network and --optimizer; "
        "--max-eps and --max-steps count the whole run)",
    )
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="remove the --env's earlier run in --save-dir and start over (without it, a fresh --train there is "
        "refused)",
    )
    train.add_argument(
        "--stop-when-solved-again",
        action="store_true",
        help="with --resume of a solved run: stop at the next passed solved check (early stopping acts once per run)",
    )
    train.add_argument(
        "--checkpoint-every",
        type=int,
        default=_default("checkpoint_every"),
        metavar="N",
        help="global updates between checkpoints (one is also written at the start, at the end and on Ctrl-C, "
        "SIGTERM or SIGHUP)",
    )

    scale = p.add_argument_group("scaling out (pip install 'a3c-cartpole[ray]')")
    scale.add_argument(
        "--backend",
        choices=BACKENDS,
        default=_default("backend"),
        help="threads: workers in this process; ray: workers as Ray actors, on this machine or a cluster",
    )
    scale.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="with --backend ray: Ray cluster to join ('auto' = the one `ray start` runs here, or HOST:PORT); "
        "default: start a private local Ray instance (or join the cluster in RAY_ADDRESS, if set)",
    )

    play = p.add_argument_group("play")
    play.add_argument(
        "--episodes",
        type=int,
        default=None,
        help=f"episodes to play (--play: {PLAY_EPISODES}; random baseline when --max-eps "
        f"is not given: {RANDOM_EPISODES})",
    )
    play.add_argument(
        "--record",
        type=Path,
        default=None,
        metavar="PATH",
        help="with --play: write the episodes to a GIF or MP4 (MP4: pip install 'a3c-cartpole[video]') "
        "instead of a window",
    )
    play.add_argument(
        "--json",
        action="store_true",
        help="print only the result as one JSON object on stdout: --play's evaluation report, --train's "
        "end-of-run summary (progress then goes to stderr)",
    )
    return p


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr)


def _where(files: RunFiles) -> dict:
    """The save dir and the run's files on disk, for --train --json."""
    return {"save_dir": str(files.save_dir), "files": {name: str(path) for name, path in files.existing().items()}}


def run(args: argparse.Namespace) -> int:
    require_positive("--episodes", args.episodes)
    require_positive("--max-eps", args.max_eps)
    require_seed(args.seed)
    if args.record is not None and not args.play:
        raise ConfigError("--record goes with --play")
    if args.json and not (args.play or args.train):
        raise ConfigError("--json goes with --play or --train")

    if args.algorithm == "random":
        from a3c_cartpole.random_agent import RandomAgent

        episodes = args.max_eps or args.episodes or RANDOM_EPISODES
        returns = RandomAgent(args.env, episodes, seed=args.seed or 0).run()
        print(
            f"Random baseline on {args.env}: average score {returns.mean():.1f} ± {returns.std():.1f} "
            f"over {episodes} episodes"
        )
        return 0

    if args.train == args.play:
        raise ConfigError("choose one of --train, --play or --algorithm=random")

    if args.train:
        config = TrainConfig(
            env_id=args.env,
            save_dir=args.save_dir,
            lr=args.lr,
            optimizer=args.optimizer,
            lr_schedule=args.lr_schedule,
            gamma=args.gamma,
            gae_lambda=args.gae_lambda,
            update_freq=args.update_freq,
            max_eps=args.max_eps or _default("max_eps"),
            max_steps=args.max_steps,
            workers=args.workers,
            envs_per_worker=args.envs_per_worker,
            seed=args.seed,
            entropy_coef=args.entropy_coef,
            value_coef=args.value_coef,
            hidden=args.hidden,
            layers=args.layers,
            activation=args.activation,
            max_grad_norm=args.max_grad_norm,
            early_stop=not args.no_early_stop,
            eval_episodes=args.eval_episodes,
            eval_every=args.eval_every,
            verbose=not args.quiet,
            backend=args.backend,
            ray_address=args.ray_address,
            resume=args.resume,
            overwrite=args.overwrite,
            stop_when_solved_again=args.stop_when_solved_again,
            checkpoint_every=args.checkpoint_every,
        )
        check_save_dir(config)  # a run in progress there, or one a fresh start would replace: refused at once
        import_tensorflow_quietly()
        from a3c_cartpole.master import MasterAgent, summary

        # with --json, stdout carries the JSON object and nothing else
        result = MasterAgent(config, progress=sys.stderr if args.json else None).train()
        if args.json:
            print(json.dumps({"env_id": config.env_id, **result.as_dict(), **_where(result.files)}))
        elif args.quiet:
            print(summary(result))
        if result.interrupted_by is not None:
            return 128 + result.interrupted_by
        return EXIT_SOLVED if result.solved else EXIT_NOT_SOLVED

    import_tensorflow_quietly()
    from a3c_cartpole.play import play
    from a3c_cartpole.saved_policy import load_policy

    policy = load_policy(args.save_dir, args.env)
    echo = _to_stderr if args.json else print  # with --json, stdout carries the JSON object and nothing else
    report = play(policy, args.episodes or PLAY_EPISODES, args.seed or 0, record=args.record, echo=echo)
    print(json.dumps(report.as_dict()) if args.json else report.summary())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (args.train or args.play or args.algorithm == "random"):
        parser.print_help()
        return 0
    try:
        return run(args)
    except ConfigError as err:
        print(f"a3c-cartpole: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # Ctrl-C outside training (e.g. while TensorFlow loads)
        print("a3c-cartpole: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except OSError as err:  # e.g. the disk filled up or the save dir vanished while writing
        print(f"a3c-cartpole: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except WorkerFailed as err:
        print(f"a3c-cartpole: error: {err}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
