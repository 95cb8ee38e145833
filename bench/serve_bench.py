"""`digitnet serve` on loopback: latency of one prediction, and a burst of concurrent requests.

The server runs in its own process (`digitnet serve MODEL --port 0`), as a user would start it;
the client sends JSON over plain HTTP/1.1 connections to 127.0.0.1.

    python bench/serve_bench.py                     # a model trained here on the sample
    python bench/serve_bench.py --model mnist.npz --concurrent 200 --json

Targets (issue #5): one prediction <= 20 ms median; 200 concurrent requests, zero errors.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image, ImageDraw

import digitnet as dn


def canvas_png() -> str:
    """What the page sends: a 280x280 RGBA canvas with a black '7' on white, as a data URL."""
    img = Image.new("RGBA", (280, 280), (255, 255, 255, 255))
    ImageDraw.Draw(img).line([(70, 60), (210, 60), (120, 230)], fill=(0, 0, 0, 255), width=18)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def post(port: int, body: bytes) -> tuple[int, dict, float]:
    """One request on a fresh connection: (status, answer, seconds)."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/api/predict", body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        answer = json.loads(r.read())
        return r.status, answer, time.perf_counter() - t0
    finally:
        conn.close()


def start_server(model: str, threads: int) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "digitnet.cli", "serve", model, "--port", "0",
                             "--threads", str(threads)], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if m:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining
            return proc, int(m.group(1))
    raise SystemExit(f"the server did not start (exit code {proc.wait()})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="a model file (default: train 784-256-10 on the sample)")
    ap.add_argument("--requests", type=int, default=200, help="sequential requests to time")
    ap.add_argument("--concurrent", type=int, default=200, help="requests sent at once")
    ap.add_argument("--threads", type=int, default=8, help="server worker threads")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    ds = dn.load_dataset("sample", val_size=0)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            net = dn.build_network("784-256-10")
            dn.train(net, ds, epochs=5, progress=False)
            model = str(dn.save_model(net, Path(tmp) / "model.npz"))
        net = dn.load_model(model)
        proc, port = start_server(model, args.threads)
        try:
            result = run(port, net, ds, args)
        finally:
            proc.terminate()
            proc.wait(10)
    if args.json:
        print(json.dumps(result))


def run(port: int, net: dn.Network, ds: dn.Dataset, args: argparse.Namespace) -> dict:
    pixels = json.dumps({"pixels": ds.x_test[0].reshape(28, 28).tolist()}).encode()
    png = json.dumps({"image": canvas_png()}).encode()
    result: dict = {"requests": args.requests}
    for name, body in (("pixels", pixels), ("canvas_png", png)):
        for _ in range(20):  # warm-up
            post(port, body)
        times = [post(port, body)[2] for _ in range(args.requests)]
        q = statistics.quantiles(times, n=10)
        result[f"latency_{name}_ms"] = {"median": round(1000 * statistics.median(times), 2),
                                        "p90": round(1000 * q[8], 2)}
        print(f"one prediction ({name:>10}): median {1000 * statistics.median(times):.2f} ms, "
              f"p90 {1000 * q[8]:.2f} ms over {args.requests} requests")

    n = args.concurrent
    X = ds.x_test[:n]
    expected = net.predict(X)
    bodies = [json.dumps({"pixels": X[i].reshape(28, 28).tolist()}).encode() for i in range(n)]
    answers: list = [None] * n
    barrier = threading.Barrier(n)

    def client(i: int) -> None:
        barrier.wait()
        try:
            answers[i] = post(port, bodies[i])
        except OSError as e:
            answers[i] = (0, {"error": str(e)}, 0.0)

    t0 = time.perf_counter()
    workers = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - t0
    errors = int(sum(a[0] != 200 for a in answers))
    wrong = int(sum(a[0] == 200 and a[1]["digit"] != e
                    for a, e in zip(answers, expected, strict=True)))
    result["concurrent"] = {"n": n, "errors": errors, "wrong_answers": wrong,
                            "wall_s": round(wall, 3),
                            "max_latency_ms": round(1000 * max(a[2] for a in answers), 1)}
    print(f"{n} concurrent requests: {errors} errors, {wrong} wrong answers, all done in "
          f"{wall:.2f} s (slowest {result['concurrent']['max_latency_ms']:.0f} ms)")
    return result


if __name__ == "__main__":
    main()
