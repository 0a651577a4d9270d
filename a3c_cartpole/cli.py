"""The `a3c-cartpole` command: parse flags, check them and the env, then train, play or play randomly.

Every training flag is a TrainConfig field, declared once in config.py with its help, so --help,
`a3c_cartpole.train` and its docstring say the same. TensorFlow takes seconds to import, so it is
imported only once the flags, the env and the save dir are known to be good and a mode that needs it
was chosen: --help, --version, a bad flag, a bad env and a --train into a save dir that another run
is training or that holds a run it would replace are answered at once.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import json
import os
import signal
import sys
import typing
from pathlib import Path
from typing import Any, NoReturn

from a3c_cartpole import __version__
from a3c_cartpole.api import run_training
from a3c_cartpole.config import (
    ENVIRONMENT,
    SCALING,
    TRAINING,
    ConfigError,
    TrainConfig,
    WorkerFailed,
    option_default,
    option_flag,
    require_positive,
    require_seed,
)
from a3c_cartpole.envs.spec import describe_env
from a3c_cartpole.presets import preset_names
from a3c_cartpole.tf_setup import import_tensorflow_quietly
from a3c_cartpole.training.outputs import RunFiles, remove_plotting_temp_dir

PROG = "a3c-cartpole"
USAGE = f"{PROG} [--train | --play | --algorithm random] [options]"
PLAY_EPISODES = 10
RANDOM_EPISODES = 100
FIELD_TYPES = typing.get_type_hints(TrainConfig)
METAVARS = {int: "N", float: "X"}

# Exit codes (README, "Stopping and resuming"); a stop signal gives 128 + its number, as a shell reports it.
EXIT_SOLVED = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_SOLVED = 3


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag costs the user one line instead of the usage block."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


class CompactHelpFormatter(argparse.HelpFormatter):
    """One line per flag where it fits: `--[no-]x` for a flag with a negative twin, `K=V ...` for a list."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=28)

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if isinstance(action, argparse.BooleanOptionalAction):
            return action.option_strings[0].replace("--", "--[no-]", 1)
        if action.nargs == "+":
            return f"{action.option_strings[0]} {action.metavar} ..."
        return super()._format_action_invocation(action)


def parse_env_kwarg(text: str) -> tuple[str, Any]:
    """`key=value` from the command line, the value read as a Python literal where it is one.

    8, 0.5, False, None and [1, 2] are literals; 8x8 is not and stays text, so usual values need no quotes.
    """
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"takes key=value pairs, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


class EnvKwargsAction(argparse.Action):
    """Collects `--env-kwargs k=v ...` (given once or more) into one dict."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, {**(getattr(namespace, self.dest) or {}), **dict(values)})


def _shown_default(field: dataclasses.Field) -> str | None:
    """The default as --help shows it, or None where the option is a switch or unset by default."""
    shown = field.metadata.get("shown")
    if shown is not None:
        return shown
    default = option_default(field)
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, float):
        return f"{default:g}"
    if isinstance(default, int):  # numbers read as in every message: 20,000
        return f"{default:,}"
    return None if default is None or default == {} else str(default)


def _add_option(group: argparse._ArgumentGroup, field: dataclasses.Field) -> None:
    """The flag of one TrainConfig field: its value stays None unless given, so a preset can fill it in."""
    meta = field.metadata
    kind = FIELD_TYPES[field.name]
    kwargs: dict[str, Any] = {"dest": field.name, "default": None}
    if kind is bool and "flag" in meta:  # a switch that turns the default off (--quiet) or on (--resume)
        kwargs.update(action="store_const", const=not option_default(field), help=meta.get("flag_help", meta["help"]))
    else:
        shown = _shown_default(field)
        kwargs["help"] = meta["help"] + (f" (default: {shown})" if shown is not None else "")
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif kind is dict:
            kwargs.update(action=EnvKwargsAction, nargs="+", type=parse_env_kwarg, metavar=meta["metavar"])
        elif "choices" in meta:
            kwargs.update(choices=meta["choices"], metavar=meta.get("metavar"))
        else:
            value_type = next(t for t in typing.get_args(kind) or (kind,) if t is not type(None))
            kwargs.update(type=value_type, metavar=meta.get("metavar", METAVARS.get(value_type)))
    group.add_argument(option_flag(field), **kwargs)


def _preset_list(names: list[str]) -> str:
    """The presets in few words: a namespace's games as one entry (MinAtar/{Asterix,Breakout}-v1)."""
    by_namespace: dict[str, list[str]] = {}
    for name in names:
        namespace, _, game = name.rpartition("/")
        by_namespace.setdefault(namespace, []).append(game)
    entries = []
    for namespace, games in by_namespace.items():
        if not namespace:  # one entry per env, its versions together (CartPole-{v0,v1})
            versions: dict[str, list[str]] = {}
            for game in games:
                base, dash, version = game.rpartition("-")
                versions.setdefault(base if dash else game, []).append(version if dash else "")
            entries += [
                f"{base}-{{{','.join(v)}}}" if len(v) > 1 else f"{base}-{v[0]}".rstrip("-")
                for base, v in versions.items()
            ]
        elif len(games) == 1:
            entries.append(f"{namespace}/{games[0]}")
        else:
            versions = {game.rpartition("-")[2] for game in games}
            if len(versions) == 1:  # MinAtar/{Asterix,Breakout}-v1
                games = [game.rpartition("-")[0] for game in games]
            suffix = f"-{versions.pop()}" if len(versions) == 1 else ""
            entries.append(f"{namespace}/{{{','.join(games)}}}{suffix}")
    return ", ".join(entries)


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog=PROG,
        usage=USAGE,
        description="A3C (asynchronous advantage actor-critic) for gymnasium envs with discrete actions: "
        "train an agent, play it back, or play randomly for a baseline.",
        formatter_class=CompactHelpFormatter,
        add_help=False,
    )
    mode = p.add_argument_group("what to do")
    mode.add_argument("--train", action="store_true", help="train; save weights, plot, CSV and run record")
    mode.add_argument("--play", action="store_true", help="play the saved agent greedily")
    mode.add_argument(
        "--algorithm", choices=("a3c", "random"), default="a3c", help="random: a random-action baseline (default: a3c)"
    )
    mode.add_argument("-h", "--help", action="help", help="show this help and exit")
    mode.add_argument("--version", action="version", version=f"%(prog)s {__version__}", help="print the version")

    presets = _preset_list(preset_names())
    groups = {
        ENVIRONMENT: p.add_argument_group("env and files"),
        TRAINING: p.add_argument_group(
            "training", f"Unset options take the env's preset ({presets}), else the default."
        ),
        SCALING: p.add_argument_group("scaling out (pip install 'a3c-cartpole[ray]')"),
    }
    for field in dataclasses.fields(TrainConfig):
        _add_option(groups[field.metadata["group"]], field)

    play = p.add_argument_group("play and random baseline (episodes on seeds --seed, --seed + 1, ...)")
    play.add_argument(
        "--episodes",
        type=int,
        metavar="N",
        help=f"episodes (default: {PLAY_EPISODES}, random: {RANDOM_EPISODES}, or --max-eps)",
    )
    play.add_argument("--record", type=Path, metavar="FILE", help="--play into a .gif or .mp4, not a window")
    play.add_argument("--json", action="store_true", help="print only the report or summary, as JSON")
    return p


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr)


def _env_id(args: argparse.Namespace) -> str:
    return args.env_id or TrainConfig.env_id


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
        from a3c_cartpole.evaluation.solved_check import Evaluation
        from a3c_cartpole.playback.random_agent import RandomAgent

        if None not in (args.max_eps, args.episodes) and args.max_eps != args.episodes:
            raise ConfigError(
                f"--max-eps {args.max_eps:,} and --episodes {args.episodes:,} both count the random baseline's "
                "episodes: give one"
            )
        info = describe_env(_env_id(args), args.env_kwargs, args.env_package)
        episodes = args.max_eps or args.episodes or RANDOM_EPISODES
        returns = RandomAgent(info, episodes, seed=args.seed or 0).run()
        score = Evaluation(returns, info.reward_threshold).mean_and_std()
        print(f"Random baseline on {info.env_id}: average score {score} over {episodes:,} episodes")
        return 0

    if args.train == args.play:
        raise ConfigError("choose one of --train, --play or --algorithm=random")
    if args.train and args.episodes is not None:  # else a user's "train 5 episodes" would be ignored
        raise ConfigError("--episodes goes with --play or --algorithm=random; to train N episodes: --max-eps N")

    if args.train:
        given = {
            field.name: getattr(args, field.name)
            for field in dataclasses.fields(TrainConfig)
            if field.name != "preset" and getattr(args, field.name) is not None
        }
        # with --json, stdout carries the JSON object and nothing else
        result = run_training(given, args.preset, sys.stderr if args.json else None)
        if args.json:
            print(json.dumps({"env_id": result.files.env_id, **result.as_dict(), **_where(result.files)}))
        elif args.verbose is False:  # --quiet: no progress was printed, so the summary is still due
            from a3c_cartpole.training.result import summary

            print(summary(result))
        if result.interrupted_by is not None:
            return 128 + result.interrupted_by
        return EXIT_SOLVED if result.solved else EXIT_NOT_SOLVED

    from a3c_cartpole.playback.saved_run import find_run

    found = find_run(args.save_dir or TrainConfig.save_dir, _env_id(args), args.env_kwargs, args.env_package)
    import_tensorflow_quietly()
    from a3c_cartpole.playback.play import play
    from a3c_cartpole.playback.saved_policy import policy_from_run

    echo = _to_stderr if args.json else print  # with --json, stdout carries the JSON object and nothing else
    report = play(
        policy_from_run(found),
        args.episodes or PLAY_EPISODES,
        args.seed or 0,
        record=args.record,
        echo=echo,
        failure_log=RunFiles(found.weights.parent, found.info.env_id).error_log,
        judged_over=found.eval_episodes,
    )
    print(json.dumps(report.as_dict()) if args.json else report.summary())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (args.train or args.play or args.algorithm == "random"):
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: choose --train, --play or --algorithm random (see --help)", file=sys.stderr)
        return 2
    try:
        return run(args)
    except ConfigError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except OSError as err:  # e.g. the disk filled up or the save dir vanished while writing
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except WorkerFailed as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_FAILED


def entry() -> NoReturn:
    """The `a3c-cartpole` program: main(), then exit without the interpreter's teardown.

    After a finished, stopped or refused run every file is written and closed, and the evaluation
    process has ended; what is left is unloading TensorFlow, which took ~1 s after the last line of a
    run. Ray's local cluster is shut down by an exit hook, and a failed run may leave buffers (e.g.
    TensorBoard's) to flush: those exit the ordinary way.
    """
    code = main()
    if "ray" in sys.modules or code == EXIT_FAILED:  # a failed run may hold unflushed buffers: exit in full
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # e.g. a closed pipe: there is nobody left to read it
            stream.flush()
    remove_plotting_temp_dir()  # where the run drew its plot itself (the evaluation process had failed)
    os._exit(code)


if __name__ == "__main__":
    entry()
