"""`digitnet` on the command line. Each subcommand is a module here with its parser next to its
``cmd_`` function, which calls the Python API; ``options.py`` declares the options several share.
Errors a user can cause print one line and exit with status 1."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import DigitnetError
from ..version import __version__
from . import doctor, evaluate, gradcheck, info, predict, read, report, serve, trace, train

#: the subcommands, in the order `digitnet --help` lists them
COMMANDS = (train, evaluate, predict, info, read, serve, report, gradcheck, doctor, trace)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="digitnet", description=(
        "A neural network written from scratch in NumPy that learns to read handwritten digits."))
    p.add_argument("--version", action="version", version=f"digitnet {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "predict" and not any(a.startswith("-") for a in extra):
        args.images += extra  # IMAGE files after options: argparse leaves them over
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except DigitnetError as e:
        print(f"digitnet: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("digitnet: interrupted", file=sys.stderr)
        return 130
