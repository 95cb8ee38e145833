"""`digitnet serve`: a local web page to draw digits on and watch the network read them."""

from __future__ import annotations

import argparse
from typing import Any

from ..web import MAX_THREADS
from . import options


def add_parser(sub: Any) -> None:
    sv = sub.add_parser("serve", help="a web page to draw digits on and watch the network read",
                        description="Serve a local web page: draw a digit, see the probabilities "
                                    "and the 28x28 image the network sees. JSON API: "
                                    "POST /api/predict.")
    options.add_model_file(sv)
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1: this computer only)")
    sv.add_argument("--port", type=options.count(0, 65535), default=8000,
                    help="port (default 8000; 0: any free)")
    sv.add_argument("--threads", type=options.count(1, MAX_THREADS), default=8,
                    help=f"worker threads, 1 to {MAX_THREADS} (default 8)")
    sv.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from ..web.app import serve  # Flask and waitress: imported when used

    return serve(args.model, host=args.host, port=args.port, threads=args.threads)
