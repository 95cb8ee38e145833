"""Hostile inputs against the `digitnet` command: bombs, lying headers, huge sizes, dotted paper.

Each case is made in a temporary folder and run as a `digitnet` command in a fresh process
(address space capped, so that an old version that tries to allocate gigabytes fails instead of
taking the machine); printed per case: exit status, seconds, peak memory (the process's maximum
resident set), whether it ended in a traceback, and the last line it printed on stderr.

    python bench/hostile_inputs.py                       # this digitnet
    python bench/hostile_inputs.py --against /tmp/old/src   # and another one (`git archive`)
    python bench/hostile_inputs.py --cases idx,model --cap-gib 8

Target: no traceback, exit status 1, peak memory <= 512 MiB for every input under 1 MiB (the
40-megapixel PNG, a line on a transparent page, is no bad input: `predict` reads it, exit status
0; `read` finds no digit in it since issue 13, a line is not one: "no digits found", status 1).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
from numpy.lib import format as npy

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
MiB = 2**20


# --- making the inputs -----------------------------------------------------------------------
def gzip_bomb(head: bytes, n_zeros: int, level: int = 9) -> bytes:
    """A valid gzip file of ``head`` then ``n_zeros`` zero bytes, made without holding them:
    16 MiB of zeros compressed once, then repeated (each piece ends with a full flush, which
    resets the compressor, so the pieces are the same bytes). tests/test_hostile_data.py uses
    it too."""
    chunk = 1 << 24
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    first = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    piece = c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    n, rest = divmod(n_zeros, chunk)
    tail = c.compress(bytes(rest)) + c.flush()
    crc, zeros = zlib.crc32(head), bytes(chunk)
    for _ in range(n):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(bytes(rest), crc)
    size = (len(head) + n_zeros) & 0xFFFFFFFF
    trailer = crc.to_bytes(4, "little") + size.to_bytes(4, "little")
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + first + piece * n + tail + trailer


def idx_head(shape: tuple[int, ...]) -> bytes:
    return bytes([0, 0, 8, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape)


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def npy_header(shape: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    npy.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return buf.getvalue()


HEADER = {"format": "digitnet-model", "version": 1, "dtype": "float32",
          "network": {"layers": [{"type": "Dense", "n_in": 784, "n_out": 10, "init": "glorot"}],
                      "loss": "softmax_cross_entropy"},
          "meta": {"class_names": [str(i) for i in range(10)]}}
GOOD = {"param/0.W": np.zeros((784, 10), np.float32), "param/0.b": np.zeros(10, np.float32)}


def model(path: Path, header: dict | str, arrays: dict | None = None) -> Path:
    text = header if isinstance(header, str) else json.dumps(header)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("header.npy", npy_bytes(np.frombuffer(text.encode(), np.uint8)))
        for name, a in (GOOD if arrays is None else arrays).items():
            zf.writestr(name + ".npy", a if isinstance(a, bytes) else npy_bytes(a))
    return path


def with_header(**changes) -> dict:
    h = json.loads(json.dumps(HEADER))
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        d = h
        for k in parents:
            d = d[int(k)] if isinstance(d, list) else d[k]
        d[int(last) if isinstance(d, list) else last] = value
    return h


def dotted_paper(n_side: int, step: int) -> np.ndarray:
    img = np.full((n_side * step, n_side * step), 235, np.uint8)
    for i in range(2):
        for j in range(2):
            img[step // 2 + i::step, step // 2 + j::step] = 60
    return img


def make_cases(d: Path) -> list[tuple[str, str, list[str]]]:
    """(class, name, digitnet arguments) for every case, its files made in ``d``."""
    from PIL import Image, ImageDraw

    cases: list[tuple[str, str, list[str]]] = []
    sample = Path(__import__("digitnet").__file__).parent / "data" / "sample"

    # IDX: a folder holding the sample's files, one of them replaced
    def idx_case(name: str, data: bytes) -> None:
        folder = d / name
        folder.mkdir()
        for f in sample.glob("*.gz"):
            (folder / f.name).write_bytes(f.read_bytes())
        (folder / "train-images-idx3-ubyte.gz").write_bytes(data)
        cases.append(("idx", name, ["info", "--data", str(folder)]))

    idx_case("gzip-bomb-2.5GiB", gzip_bomb(idx_head((10 * 2**20, 16, 16)), 10 * 2**28))
    idx_case("gzip-1GiB-in-1MB", gzip_bomb(idx_head((2**30 // 784, 28, 28)), 2**30))
    idx_case("header-declares-60MB-has-40B",
             gzip.compress(idx_head((60_000, 28, 28)) + bytes(40)))
    idx_case("dims-all-ff", gzip.compress(idx_head((2**32 - 1, 2**32 - 1, 2**32 - 1))))

    pixels = ",".join(f"pixel{i}" for i in range(784))
    for name, text in (("csv-endless-line", f"label,{pixels}\n" + "1," * (MiB // 2)),
                       ("csv-endless-header", "," * MiB),
                       ("csv-only-line-ends", f"label,{pixels}" + "\n" * MiB),
                       ("csv-two-columns", f"label,{pixels}\n" + "1,2\n" * (MiB // 4))):
        (d / f"{name}.csv").write_text(text)
        cases.append(("csv", name, ["info", "--data", str(d / f"{name}.csv")]))

    def model_case(cls: str, name: str, header: dict | str, arrays: dict | None = None,
                   command: str = "evaluate") -> None:
        path = model(d / f"{name}.npz", header, arrays)
        cases.append((cls, name, [command, str(path), "--test-size", "100"]))

    model_case("model-memory", "dense-17000x17000-no-weights",
               with_header(network__layers=[{"type": "Dense", "n_in": 784, "n_out": 17000},
                                            {"type": "Dense", "n_in": 17000, "n_out": 17000},
                                            {"type": "Dense", "n_in": 17000, "n_out": 10}]), {})
    bomb = d / "zip-bomb-1.1GiB.npz"
    with zipfile.ZipFile(bomb, "w") as zf:
        zf.writestr("header.npy", npy_bytes(np.frombuffer(json.dumps(with_header(
            network__layers=[{"type": "Dense", "n_in": 784, "n_out": 370_000}])).encode(),
            np.uint8)))
        info = zipfile.ZipInfo("param/0.W.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as f:
            f.write(npy_header((784, 370_000)))
            zero = bytes(1 << 24)
            for start in range(0, 784 * 370_000 * 4, 1 << 24):
                f.write(zero[:min(1 << 24, 784 * 370_000 * 4 - start)])
        zf.writestr("param/0.b.npy", npy_bytes(np.zeros(370_000, np.float32)))
    cases.append(("model-memory", "zip-bomb-1.1GiB", ["evaluate", str(bomb)]))
    four_tib = npy_header((2**40,)) + GOOD["param/0.W"].tobytes()
    model_case("model-memory", "array-declared-4TiB", HEADER, {**GOOD, "param/0.W": four_tib})
    model_case("model-header", "nested-100000-deep",
               json.dumps(HEADER)[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    for name, changes in (
            ("version-string", {"version": "1"}), ("meta-list", {"meta": []}),
            ("class-names-short", {"meta__class_names": ["0", "1", "2"]}),
            ("class-names-ints", {"meta__class_names": list(range(10))}),
            ("n-out-infinity", {"network__layers__0__n_out": float("inf")}),
            ("n-out-1e12", {"network__layers__0__n_out": 1e12}),
            ("n-out-string", {"network__layers__0__n_out": "10"}),
            ("history-strings", {"meta__history": {"epoch": [1], "loss": ["a"],
                                                   "accuracy": [0.5]}}),
            ("binary-target-string", {"meta__binary_target": "7"})):
        model_case("model-header", name, with_header(**changes), command="predict")

    cases += [("spec", "model-784-1000000000-10",
               ["train", "--model", "784-1000000000-10", "--epochs", "1", "-q"]),
              ("spec", "model-conv1000000",
               ["train", "--model", "conv1000000-10", "--epochs", "1", "--train-size", "100",
                "-q"]),
              ("spec", "gradcheck-batch-1e9", ["gradcheck", "--batch", "1000000000"]),
              ("spec", "trace-batch-all-cnn", ["trace", "--model", "cnn", "--batch", "10000"]),
              ("spec", "doctor-batch-size-1e9",
               ["doctor", "--batch-size", "1000000000", "--steps", "1"])]

    net = model(d / "net.npz", HEADER)
    for n_side, step in ((120, 12), (240, 6)):
        path = d / f"dots-{n_side**2}.png"
        Image.fromarray(dotted_paper(n_side, step)).save(path)
        cases.append(("read", f"dotted-paper-{n_side**2}", ["read", str(net), str(path)]))
    big = Image.new("RGBA", (6320, 6320), (0, 0, 0, 0))  # 40 M pixels: within MAX_PIXELS
    ImageDraw.Draw(big).line((1000, 3000, 5000, 3200), fill=(0, 0, 0, 255), width=80)
    big.save(d / "40MP.png")
    cases += [("read", "40MP-rgba-png-read", ["read", str(net), str(d / "40MP.png")]),
              ("read", "40MP-rgba-png-predict", ["predict", str(net), str(d / "40MP.png")])]
    return cases


# --- running them ------------------------------------------------------------------------------
def run(args: list[str], src: Path, cap: int) -> dict:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    env = {**os.environ, "PYTHONPATH": str(src), "OPENBLAS_NUM_THREADS": "1"}
    code = ("import resource, sys; from digitnet.cli import main; rc = 1\n"
            "try:\n    rc = main(sys.argv[1:])\nfinally:\n"
            "    print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
            "file=sys.stderr)\nsys.exit(rc)")
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                       text=True, preexec_fn=limit, timeout=600)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    peak = next((int(line.split()[1]) / 1024 for line in lines if line.startswith("PEAK")),
                None)
    lines = [line for line in lines if not line.startswith("PEAK")]
    return {"rc": p.returncode, "seconds": round(time.perf_counter() - t0, 2),
            "peak_mib": None if peak is None else round(peak),
            "traceback": any(line.startswith("Traceback") for line in lines),
            "last": lines[-1][:150] if lines else ""}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--against", metavar="SRC", help="another digitnet's src folder, run first")
    p.add_argument("--cases", help="classes to run (idx, csv, model-memory, model-header, "
                                   "spec, read), comma-separated; default all")
    p.add_argument("--cap-gib", type=float, default=8, help="address space per process")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    trees = ([("against", Path(args.against))] if args.against else []) + [("this", SRC)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = make_cases(Path(tmp))
        wanted = set(args.cases.split(",")) if args.cases else None
        for cls, name, argv in cases:
            if wanted and cls not in wanted:
                continue
            for tree, src in trees:
                r = {"class": cls, "case": name, "tree": tree,
                     "size_kib": _size(argv), **run(argv, src, int(args.cap_gib * 2**30))}
                rows.append(r)
                print(f"{cls:<13}{name:<30}{tree:<8}rc {r['rc']:<4}{r['seconds']:>7.2f} s"
                      f"{r['peak_mib'] or 0:>7} MiB  {'TRACEBACK ' if r['traceback'] else ''}"
                      f"{r['last']}", flush=True)
    if args.json:
        print(json.dumps(rows))


def _size(argv: list[str]) -> int:
    """The size of the input file or folder a case reads, in KiB."""
    for a in argv:
        path = Path(a)
        if path.is_file():
            return path.stat().st_size // 1024
        if path.is_dir():
            return (path / "train-images-idx3-ubyte.gz").stat().st_size // 1024
    return 0


if __name__ == "__main__":
    main()
