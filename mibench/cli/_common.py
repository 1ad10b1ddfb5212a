"""What the commands share: the parent parsers, the old spellings and the option parsing."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError

OLD_SPELLINGS: dict[tuple[str, str], str] = {
    ("frontier", "--defense"): "--defense is now --defenses (a comma list): --defenses {value}",
    ("frontier", "--seeds N"): "--seeds takes the seeds themselves now: --seeds {value} (it was a count)",
    ("sweep", "--defense"): "--defense is now --defenses (a comma list): --defenses {value}",
    ("sweep", "--attack"): "--attack is now --attacks (a comma list): --attacks {value}",
    ("leaderboard show", "--defense"): "--defense is now --defenses (a comma list): --defenses {value}",
    ("leaderboard show", "--attack"): "--attack is now --attacks (a comma list): --attacks {value}",
}
"""(command, old spelling) -> the one line that names the new spelling (``{value}``: what to type now).
A bare flag is a removed one; ``--seeds N`` is a bare count where the seeds themselves are expected."""


class OldSpelling(ConfigError):
    """A flag spelled as an earlier mibench spelled it: one line naming the new spelling, exit status 2."""


class _Renamed(argparse.Action):
    """A removed flag (hidden from ``--help``): fails with its line of :data:`OLD_SPELLINGS`."""

    def __init__(self, *args, line: str, **kwargs):
        super().__init__(*args, help=argparse.SUPPRESS, **kwargs)
        self.line = line

    def __call__(self, parser, namespace, values, option_string=None):
        raise OldSpelling(self.line.format(value=values))


def add_old_spellings(parser: argparse.ArgumentParser, command: str) -> None:
    """Give ``command``'s parser its removed flags, each failing with the line that names the new one
    (spelled out so that argparse does not take ``--defense`` for an abbreviation of ``--defenses``)."""
    for (where, flag), line in OLD_SPELLINGS.items():
        if where == command and " " not in flag:
            parser.add_argument(flag, action=_Renamed, line=line)


class _Seeds(argparse.Action):
    """``--seeds 0,1,2`` -> [0, 1, 2]; where :data:`OLD_SPELLINGS` has ``--seeds N`` for the command, a bare
    count (a number from 1 up, no comma) is that old spelling (one seed other than 0: ``--seeds 4,``)."""

    def __init__(self, *args, command: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.command = command

    def __call__(self, parser, namespace, values, option_string=None):
        line = OLD_SPELLINGS.get((self.command, "--seeds N"))
        if line and values.isdigit() and int(values) >= 1:
            raise OldSpelling(line.format(value=",".join(str(s) for s in range(int(values)))))
        try:
            seeds = [int(s) for s in values.split(",") if s != ""]
        except ValueError:
            raise ConfigError(f"--seeds {values!r}: expected comma-separated integers, e.g. 0,1,2") from None
        if not seeds:
            raise ConfigError(f"--seeds {values!r} names no seed; e.g. --seeds 0,1,2")
        setattr(namespace, self.dest, seeds)


def add_seeds(parser: argparse.ArgumentParser, command: str, help: str) -> None:
    """``--seeds 0,1,2``: the run seeds, a comma list (default 0,1,2)."""
    parser.add_argument("--seeds", action=_Seeds, command=command, default=[0, 1, 2], metavar="0,1,2", help=help)


def runtime() -> argparse.ArgumentParser:
    """The parent parser of the commands that train or evaluate: device, precision, folders, imported weights."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    common.add_argument("--precision", default="fp32", choices=("fp32", "bf16"),
                        help="fp32: deterministic (default); bf16: autocast, cuDNN autotuning and TF32 for GPU speed, "
                             "not bit-reproducible")
    common.add_argument("--cache-dir", type=Path, default=None,
                        help="artifact cache (default: $MIBENCH_CACHE or ~/.cache/mibench)")
    common.add_argument("--data-root", type=Path, default=None, help="folder with the suite's data files")
    common.add_argument("--assets-dir", type=Path, action="append", default=[],
                        help="folder searched first for weights files (then $MIBENCH_ASSETS, the package, the torch hub cache)")
    common.add_argument("--retrain-targets", action="store_true",
                        help="train every target from its recipe, also those the suite ships as files (mibench/weights/; "
                             "`leaderboard check` always does)")
    common.add_argument("--weights", action="append", default=[], metavar="ROLE=FILE",
                        help="import a published classifier file: target=FILE (only with the none defense) or evaluator=FILE "
                             "(KED-MI / PLG-MI .tar, MIBench .pth, or a state dict; loaded with weights_only=True)")
    return common


def board() -> argparse.ArgumentParser:
    """The parent parser of ``--suite`` and ``--profile``: which suite, at which budget (a board is both)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--suite", default="mnist")
    parent.add_argument("--profile", default="full", help="full (the suite's protocol) or quick (smoke test); "
                                                          "default: full")
    return parent


def rows(set_help: str) -> argparse.ArgumentParser:
    """The parent parser of the commands that add rows to a board: ``--suite/--profile``, ``--out`` (the
    run folders), ``--leaderboard-dir``, ``--set`` and ``--overwrite-edited-board``."""
    parent = argparse.ArgumentParser(add_help=False, parents=[board()])
    parent.add_argument("--out", default="mibench-runs", help="folder for run folders (default: ./mibench-runs)")
    parent.add_argument("--leaderboard-dir", type=Path, default=None,
                        help="leaderboard folder to add the rows to (default: OUT/leaderboards; the repository's is "
                             "./leaderboards)")
    parent.add_argument("--set", action="append", default=[], metavar="GROUP.PARAM=VALUE", help=set_help)
    parent.add_argument("--overwrite-edited-board", action="store_true",
                        help="rebuild the board CSV from its records even where that loses hand-edited cells or "
                             "foreign columns (default: refuse, naming them)")
    return parent


def parse_sets(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``--set defense.rank=8 --set evaluator.fid.subset=successful`` -> grouped overrides."""
    groups: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        group, dot, param = key.rpartition(".")
        if not sep or not dot or not group:
            raise ConfigError(f"--set {item!r}: expected GROUP.PARAM=VALUE, e.g. defense.rank=8, attack.top_n=100 "
                              f"or prior.gmi-wgan.width=32")
        groups.setdefault(group, {})[param] = value
    return groups


def suite_sets(args: argparse.Namespace) -> dict[str, Any]:
    """``--set suite.PARAM=VALUE`` of a command that runs many rows: the suite's parameters only."""
    groups = parse_sets(args.set)
    other = sorted(set(groups) - {"suite"})
    if other:
        raise ConfigError(f"mibench {args.command} takes --set suite.PARAM=VALUE only (got {', '.join(other)}): its "
                          f"rows have different components; set a component's parameters with mibench run --set")
    return groups.get("suite", {})


def parse_weights(items: Sequence[str]) -> dict[str, Path]:
    """``--weights target=FILE --weights evaluator=FILE`` -> {role: path}."""
    out = {}
    for item in items:
        role, sep, path = item.partition("=")
        if not sep or not role or not path:
            raise ConfigError(f"--weights {item!r}: expected ROLE=FILE, e.g. target=IR152_91.16.tar or "
                              f"evaluator=FaceNet_95.88.tar")
        out[role] = Path(path).expanduser()
    return out


def pinned(args: argparse.Namespace) -> tuple[dict[str, Path], dict[str, str]]:
    """``--weights`` as (role -> file, role -> SHA-256): the files for the options, the pins for the specs."""
    from ..runner import read_sha256

    files = parse_weights(args.weights)
    return files, {role: read_sha256(path) for role, path in files.items()}


def run_options(args: argparse.Namespace, **overrides):
    """The run options the common arguments give (``overrides`` win)."""
    from ..runner import RunOptions

    values = dict(device=args.device, precision=args.precision, cache_root=args.cache_dir, data_root=args.data_root,
                  assets_dirs=tuple(args.assets_dir), leaderboard_dir=getattr(args, "leaderboard_dir", None),
                  overwrite_edited_board=getattr(args, "overwrite_edited_board", False),
                  retrain_targets=getattr(args, "retrain_targets", False))
    if "out" not in overrides:
        values["out"] = Path(args.out)
    return RunOptions(**{**values, **overrides})


def replacing(specs: Sequence[Any], board_dir: Path) -> str:
    """`` (K replacing records of older component versions)`` for the runs of ``specs`` whose record is on
    the board but was written by another version of a component; empty when there are none."""
    if not specs:
        return ""
    from ..leaderboard import board_name, outdated
    old = outdated(board_dir, board_name(specs[0].suite, specs[0].profile))
    k = sum((s.config_hash, s.seed) in old for s in specs)
    return f" ({k} replacing records of older component versions)" if k else ""
