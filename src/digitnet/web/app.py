"""`digitnet serve`: a local web page to draw a digit on and watch the network read it.

    GET  /              the page (static/index.html, app.js, style.css: no CDN, works offline)
    GET  /favicon.ico   the icon (static/favicon.ico; static/favicon.svg for browsers that take SVG)
    GET  /api/info      {"labels": [...], "model": file name,
                         "limits": {"max_bytes", "max_pixels"}: the largest body and image}
    POST /api/predict   {"image": "data:image/png;base64,..."}: any image, prepared MNIST-style
                        {"pixels": [[...28...] x 28]}: already MNIST-style, values in [0, 1]
                     -> {"is_digit", "digit", "label", "probability", "labels",
                         "probabilities" (n_classes,), "input28": 28x28 list, what the network
                         saw}; when the drawing does not look like a digit (digitnet.judge):
                         "is_digit": false, "digit", "label", "probability" null, and "reason"

Bad requests (malformed JSON, NaN or numbers out of range, JSON nested too deeply, not an image,
wrong shape or types, values out of range, a body over 2 MB) are answered 4xx with
``{"error": "..."}`` saying what to do; no request makes the server fail. The page scales a photo
down in the browser (longest side 1024 px, JPEG) before sending it, so a 12-megapixel phone photo
of several MB arrives as a few hundred KB; other clients get the 413 and its advice. Flask routes
the requests; waitress (a pure-Python production WSGI server) answers them from a pool of
threads.

Connections: at most ``CONNECTION_LIMIT`` open at once; one idle (no request, nothing to send) for
``CHANNEL_TIMEOUT`` seconds is closed (checked every ``CLEANUP_INTERVAL`` s); and when the limit is
reached, the connection idle the longest is closed to let a new one in (waitress by itself would
accept nobody until one closed), so idle or trickling sockets cannot lock other clients out.
Bodies over ``WAITRESS_MAX_BYTES`` are refused by waitress before it reads them (413, plain text).
The model is loaded once and shared by the threads without a lock: evaluation-mode forward passes
keep nothing on the layers (a network with a learner's own layer is the exception: it answers
one request at a time). Decoding and preparing the images run in parallel too.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..extras import missing

try:
    from flask import Flask, Response, jsonify, request
    from waitress.server import TcpWSGIServer, create_server
    from werkzeug.exceptions import HTTPException
except ImportError as e:
    raise missing("web", e) from None

from ..data.images import SIZE, prepare_bytes
from ..errors import DigitnetError, ImageError
from ..judge import judge
from ..modelfile import load_model
from ..read import class_names
from . import MAX_THREADS

MAX_BYTES = 2 * 1024 * 1024  # largest request body (Flask answers 413 with a JSON error)
WAITRESS_MAX_BYTES = 8 * 1024 * 1024  # waitress itself answers 413 in plain text above this
CONNECTION_LIMIT = 100  # open connections; at the limit, the one idle longest is closed
CHANNEL_TIMEOUT = 30  # seconds a connection may stay idle
CLEANUP_INTERVAL = 5  # seconds between looks for idle connections
MAX_PIXELS = 4_000_000  # largest decoded image (files given to `predict`: images.MAX_PIXELS)

log = logging.getLogger("digitnet.web")


class BadRequest(Exception):
    """A request the API cannot answer; becomes ``{"error": message}`` with ``status``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _image_bytes(data_url: Any) -> bytes:
    """A data URL ("data:image/png;base64,...") or bare base64 string -> the encoded bytes."""
    if not isinstance(data_url, str):
        raise BadRequest('"image" must be a string: a data URL like "data:image/png;base64,..."')
    payload = data_url
    if data_url.startswith("data:"):
        header, sep, payload = data_url.partition(",")
        if not sep or not header.endswith(";base64"):
            raise BadRequest('"image" must be a base64 data URL: "data:image/png;base64,..."')
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest('"image" is not valid base64') from None


def _pixels(pixels: Any) -> np.ndarray:
    """A 28x28 nested list (or 784 flat values) in [0, 1] -> (28, 28) float32."""
    numbers = BadRequest('"pixels" must be a 28x28 array of numbers in [0, 1]')
    try:
        x = np.asarray(pixels)  # ragged lists: ValueError; strings, null, true: their own dtype
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise numbers from None
    if x.dtype.kind not in "iuf":  # numbers too large for int64 (10**400) give "O", objects
        raise numbers
    x = x.astype(np.float32)
    if x.shape == (SIZE * SIZE,):
        x = x.reshape(SIZE, SIZE)
    if x.shape != (SIZE, SIZE):
        raise BadRequest(f'"pixels" must be {SIZE}x{SIZE} numbers, got shape {list(x.shape)}')
    if not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
        raise BadRequest('"pixels" values must be in [0, 1] (ink 1, background 0)')
    return x


def input28(body: Any) -> np.ndarray:
    """The (28, 28) input the network should see for one API request body."""
    if not isinstance(body, dict):
        raise BadRequest('the body must be a JSON object: {"image": ...} or {"pixels": ...}')
    if ("image" in body) == ("pixels" in body):
        raise BadRequest('send exactly one of "image" (a PNG data URL) or "pixels" (28x28)')
    if "pixels" in body:
        return _pixels(body["pixels"])
    try:
        return prepare_bytes(_image_bytes(body["image"]), max_pixels=MAX_PIXELS,
                             name='"image"')
    except ImageError as e:
        raise BadRequest(str(e)) from None


def create_app(net: Any, *, name: str = "") -> Flask:
    """The Flask app answering with ``net`` (loaded once, shared by all requests)."""
    app = Flask(__name__, static_folder="static", static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    labels = class_names(net)
    # digitnet's own layers keep nothing when predicting, so threads share the network freely;
    # a learner's own layer may keep its input on itself: those networks answer one at a time
    lock = contextlib.nullcontext() if net.thread_safe else threading.Lock()

    @app.get("/")
    def index() -> Response:
        return app.send_static_file("index.html")

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return app.send_static_file("favicon.ico")

    @app.get("/api/info")
    def info() -> Response:
        return jsonify(labels=labels, model=name,
                       limits={"max_bytes": MAX_BYTES, "max_pixels": MAX_PIXELS})

    @app.post("/api/predict")
    def predict() -> Response:
        raw = request.get_data(cache=False)  # over MAX_BYTES: 413 before reading it all
        try:
            body = json.loads(raw, parse_constant=_not_a_number)
        except RecursionError:
            raise BadRequest("the JSON is nested too deeply: send {\"pixels\": [[...], ...]} "
                             "or {\"image\": \"data:...\"}") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise BadRequest(f"malformed JSON: {e}") from None
        x = input28(body)
        with lock:
            p = net.predict_proba(x[None])[0]
        is_digit, reasons = judge(net, x[None])
        c = int(np.argmax(p))
        answer: dict[str, Any] = {"is_digit": bool(is_digit[0]), "digit": c, "label": labels[c],
                                  "probability": round(float(p[c]), 4)}
        if not is_digit[0]:
            answer.update(digit=None, label=None, probability=None, reason=reasons[0])
        return jsonify(**answer, labels=labels,
                       probabilities=np.round(p.astype(float), 4).tolist(),
                       input28=np.round(x.astype(float), 3).tolist())

    @app.errorhandler(BadRequest)
    def bad_request(e: BadRequest) -> tuple[Response, int]:
        return jsonify(error=str(e)), e.status

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> tuple[Response, int]:
        message = e.description or e.name
        if e.code == 413:
            message = (f"the request is too large: the limit is {MAX_BYTES // 2**20} MB; scale "
                       "the image down first (1024 pixels on its longer side is plenty) and send "
                       "it as JPEG (the page does both by itself)")
        return jsonify(error=message), e.code or 500

    @app.errorhandler(Exception)
    def internal_error(e: Exception) -> tuple[Response, int]:
        log.exception("error answering %s %s", request.method, request.path)
        return jsonify(error=f"internal error: {type(e).__name__}"), 500

    return app


def _not_a_number(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


class _Server(TcpWSGIServer):
    """waitress's server, which at its connection limit accepts nobody until a connection closes
    by itself; this one then closes the connection idle the longest (no request being answered,
    nothing left to send), so that idle sockets cannot lock new clients out."""

    def readable(self) -> bool:
        # one below the limit: the slot is freed before waitress would stop accepting
        if self.accepting and len(self._map) >= self.adj.connection_limit - 1:
            idle = [c for c in self.active_channels.values()
                    if not c.requests and not c.total_outbufs_len and not c.will_close]
            if idle:
                min(idle, key=lambda c: c.last_activity).will_close = True
        return super().readable()


def make_server(app: Flask, host: str = "127.0.0.1", port: int = 8000, threads: int = 8, *,
                connection_limit: int = CONNECTION_LIMIT, channel_timeout: int = CHANNEL_TIMEOUT,
                cleanup_interval: int = CLEANUP_INTERVAL) -> Any:
    """A waitress server for ``app`` (not started: call ``.run()``; ``.effective_port``)."""
    if not 0 <= port <= 65535 or not 1 <= threads <= MAX_THREADS:
        raise DigitnetError(f"--port must be 0..65535 and --threads 1..{MAX_THREADS}")
    try:
        server = create_server(app, host=host, port=port, threads=threads,
                               connection_limit=connection_limit, channel_timeout=channel_timeout,
                               cleanup_interval=cleanup_interval,
                               max_request_body_size=WAITRESS_MAX_BYTES, ident="digitnet")
    except ValueError:  # waitress's word for an address it cannot resolve
        raise DigitnetError(f"cannot listen on {host!r}: not an address of this computer; use "
                            "--host 127.0.0.1 (this computer only) or 0.0.0.0 (every network "
                            "interface)") from None
    except OSError as e:
        raise DigitnetError(f"cannot listen on {host}:{port}: {e.strerror or e}; "
                            "pick another --port (0 picks a free one) or --host") from None
    # a name with several addresses gives a MultiSocketServer holding one server per address
    servers = [server] if isinstance(server, TcpWSGIServer) else list(server.map.values())
    for s in servers:
        if type(s) is TcpWSGIServer:
            s.__class__ = _Server  # the same object, with the readable() above
    return server


def serve(model: str | os.PathLike, host: str = "127.0.0.1", port: int = 8000,
          threads: int = 8) -> int:
    """Load ``model`` once and serve the page and API until Ctrl-C; returns 0."""
    net = load_model(model)
    server = make_server(create_app(net, name=Path(model).name), host, port, threads)
    # a name with several addresses (localhost: 127.0.0.1 and ::1) gives one server per address
    port = getattr(server, "effective_port", None) or server.effective_listen[0][1]
    url = f"http://{host}:{port}/"
    print(f"digitnet: serving {Path(model).name} on {url}  (Ctrl-C to stop)", file=sys.stderr,
          flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print("digitnet: note: other computers on the network can reach this page",
              file=sys.stderr)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
