"""`digitnet` on the command line. Each subcommand is a module here with its parser next to its
``cmd_`` function, which calls the Python API; ``options.py`` declares the options several share.

Exit status: 0 done; 1 an error a user can cause (a bad option or value, a file that cannot be
read or written, diverging training: one line on stderr, no traceback); 130 interrupted (Ctrl-C);
141 the reader of the output went away (`digitnet info | head -1`: stops quietly, as `cat` does).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ..errors import DigitnetError
from ..version import __version__
from . import (
    calibrate,
    doctor,
    ensemble,
    evaluate,
    export,
    gradcheck,
    info,
    predict,
    read,
    report,
    serve,
    sweep,
    trace,
    train,
)
from .options import Parser

#: the subcommands, in the order `digitnet --help` lists them
COMMANDS = (train, evaluate, calibrate, predict, info, read, serve, report, ensemble, export,
            sweep, gradcheck, doctor, trace)


def build_parser() -> Parser:
    p = Parser(prog="digitnet", description=(
        "A neural network written from scratch in NumPy that learns to read handwritten digits."))
    p.add_argument("--version", action="version", version=f"digitnet {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            code = run(argv)
        except SystemExit:  # --help and --version: their output goes out before exiting
            sys.stdout.flush()
            raise
        sys.stdout.flush()  # a reader that went away shows here, not at exit
        return code
    except BrokenPipeError:
        # nobody reads the output any more: stop quietly, and keep Python's own flush at exit
        # from failing again (the recipe of the `signal` module's documentation)
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass  # stdout is not a file (captured by a test, or closed): nothing to flush
        return 141


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run its subcommand; errors a user can cause: one line, status 1."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and args.command in ("predict", "read") and \
                not any(a.startswith("-") for a in extra):
            args.images += extra  # IMAGE files after options: argparse leaves them over
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if args.command is None:
            parser.print_help()
            return 0
        return args.func(args)
    except DigitnetError as e:
        print(f"digitnet: error: {e}", file=sys.stderr)
        return 1
    except MemoryError as e:
        print(f"digitnet: error: not enough memory ({e or 'MemoryError'}): use smaller sizes "
              "(--batch-size, --train-size, the model's layers)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("digitnet: interrupted", file=sys.stderr)
        return 130
