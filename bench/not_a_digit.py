"""Does digitnet say "not a digit" to things that are not digits, and still read the digits?

Non-digits: ``digitnet.data.nondigits`` (letters, strokes, scribbles, blobs, dots, lines,
frames, noise, blank images, smileys, X's), drawn with generator seeds the shipped detector was not
trained on (it used seed 1 and Pillow's own font only; here: seed 202 with the TrueType fonts in
/usr/share/fonts, when there are any, and seed 303 with Pillow's font), each prepared as a user's
file is (``data.images.prepare``; a blank image is refused there: it counts as rejected). Letters
written like digits (``nondigits.LOOKALIKES``: O, I, S, Z, B, g, q, ...) are measured apart.

Digits: the MNIST test images, as 28x28 arrays and as PNG files (dark ink on white) read by
``digitnet.read.predict_files``, the path of `digitnet predict`.

Methods, each thresholded to accept a share of the validation digits (as arrays):
    msp, maxlogit, energy   the model's own confidence: max softmax, max logit, logsumexp(logits)
    maha                    Mahalanobis distance of the penultimate features to the nearest class
                            mean (tied covariance, fitted on 20,000 training digits)
    ink                     the input's total ink, two-sided (blobs and dots have too much)
    judge                   digitnet.judge: the shipped detector, at its own stored threshold
    judge+maxlogit          either of the two, each at half the rejection budget
    eleven (--eleven)       a network of the model's architecture with an 11th class "not a
                            digit", trained on the training digits and generated non-digits
                            (seed 9, Pillow's font)

    python bench/not_a_digit.py --data ../shared/data/mnist --model fast.npz [--model mlp.npz]
    python bench/not_a_digit.py --data ../shared/data/mnist --model fast.npz --eleven fast

Target (issue #13): >= 95% of non-digits rejected while >= 99% of MNIST test digits are accepted
(arrays and PNG files) and the accuracy on the accepted ones does not drop.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import digitnet as dn
from digitnet.data.images import prepare
from digitnet.data.nondigits import KINDS, LOOKALIKES, nondigit, nondigits
from digitnet.errors import ImageError
from digitnet.judge import detector, digit_scores
from digitnet.read import predict_files


def prepared(images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(X (N, 784), refused (N,) bool): each image through ``prepare``; blank ones refused."""
    X, refused = [], []
    for im in images:
        try:
            X.append(prepare(im).ravel())
            refused.append(False)
        except ImageError:
            X.append(np.zeros(784, np.float32))
            refused.append(True)
    return np.stack(X), np.array(refused)


def features(net: dn.Network, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(penultimate features, logits) of X, 500 at a time."""
    F = []
    A = net.check_input(X)
    for i in range(0, len(A), 500):
        a = A[i:i + 500]
        for layer in net.layers[:-1]:
            a = layer.forward(a)
        F.append(a)
    F = np.concatenate(F)
    return F, net.layers[-1].forward(F)


class Scores:
    """Per method, a "digit-likeness" per input (higher: more like a digit)."""

    def __init__(self, net: dn.Network, ds: dn.Dataset) -> None:
        self.net = net
        F, _ = features(net, ds.x_train[:20000])
        y = ds.y_train[:20000]
        self.mu = np.stack([F[y == c].mean(0) for c in range(10)])
        R = F - self.mu[y]
        cov = R.T @ R / len(R)
        cov += 1e-3 * np.trace(cov) / len(cov) * np.eye(len(cov))
        self.P = np.linalg.inv(cov).astype(np.float32)
        self.ink_ref = ds.x_val.sum(1)

    def __call__(self, X: np.ndarray) -> dict[str, np.ndarray]:
        F, Z = features(self.net, X)
        m = Z.max(1)
        lse = m + np.log(np.exp(Z - m[:, None]).sum(1))
        d = np.stack([np.einsum("nd,de,ne->n", F - mu, self.P, F - mu) for mu in self.mu], 1)
        ink = X.sum(1)
        med = np.median(self.ink_ref)
        return {"msp": np.exp(m - lse), "maxlogit": m, "energy": lse, "maha": -d.min(1),
                "ink": -np.abs(np.log(np.maximum(ink, 1e-3) / med)),
                "judge": digit_scores(X)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="sample", help="digits: a dataset name or folder")
    ap.add_argument("--model", action="append", required=True, help="model file(s) to measure")
    ap.add_argument("--n", type=int, default=1100, help="non-digits per held-out set")
    ap.add_argument("--accept", type=float, default=0.995,
                    help="share of validation digits each threshold accepts")
    ap.add_argument("--eleven", metavar="SPEC", help="also train SPEC with an 11th class")
    ap.add_argument("--eleven-negatives", type=int, default=10_000, metavar="N",
                    help="generated non-digits to train it with")
    ap.add_argument("--json", metavar="FILE", help="write the numbers as JSON")
    args = ap.parse_args()
    t0 = time.perf_counter()
    ds = dn.load_dataset(args.data)
    fonts = sorted(str(p) for p in Path("/usr/share/fonts").rglob("*.ttf")
                   if "Math" not in p.name)
    sets = {}
    for name, seed, f in (("held-out fonts", 202, fonts), ("Pillow font", 303, [])):
        imgs, kinds = nondigits(args.n, seed=seed, fonts=f)
        X, refused = prepared(imgs)
        sets[name] = (X, refused, np.array(kinds))
    rng = np.random.default_rng(404)  # letters written like digits
    look = _lookalikes(rng, 200, fonts)
    sets["lookalike letters"] = (*prepared(look), np.array(["lookalike"] * len(look)))
    print(f"non-digits: {', '.join(f'{k} {len(v[0])}' for k, v in sets.items())}"
          f" ({time.perf_counter() - t0:.0f} s); fonts: {len(fonts)} TrueType")
    folder = Path(tempfile.mkdtemp())
    files = []
    for i, x in enumerate(ds.x_test):
        files.append(folder / f"{i:05d}.png")
        Image.fromarray(np.uint8(255 - 255 * x.reshape(28, 28))).save(files[-1])
    png = np.stack([_prepare_file(f) for f in files])
    print(f"test digits as PNG files: {len(files):,} ({time.perf_counter() - t0:.0f} s)")
    out = {}
    for model in args.model:
        net = dn.load_model(model)
        out[model] = measure(net, ds, sets, png, files, args.accept)
    if args.eleven:
        out[f"eleven:{args.eleven}"] = eleven(args.eleven, ds, sets, png, args.accept,
                                           args.eleven_negatives)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    print(f"done in {time.perf_counter() - t0:.0f} s")


def _prepare_file(path: Path) -> np.ndarray:
    from digitnet.data.images import prepare_file

    return prepare_file(path).ravel()


def _lookalikes(rng: np.random.Generator, n: int, fonts: list[str]) -> list[np.ndarray]:
    import digitnet.data.nondigits as nd

    saved = nd.LETTERS
    nd.LETTERS = LOOKALIKES
    try:
        return [nondigit("letter", rng, fonts) for _ in range(n)]
    finally:
        nd.LETTERS = saved


def _row(name: str, accept_test: np.ndarray, accept_png: np.ndarray, pred: np.ndarray,
         pred_png: np.ndarray, y: np.ndarray, rejected: dict[str, np.ndarray],
         kinds: np.ndarray) -> dict:
    r = {"method": name, "test_accepted": float(accept_test.mean()),
         "png_accepted": float(accept_png.mean()),
         "accuracy_all": float(np.mean(pred == y)),
         "accuracy_accepted": float(np.mean(pred[accept_test] == y[accept_test])),
         "png_accuracy_all": float(np.mean(pred_png == y)),
         "png_accuracy_accepted": float(np.mean(pred_png[accept_png] == y[accept_png])),
         **{f"rejected {k}": float(v.mean()) for k, v in rejected.items()},
         "per_kind": {k: round(float(rejected["held-out fonts"][kinds == k].mean()), 3)
                      for k in KINDS}}
    print(f"  {name:15s} rejects {r['rejected held-out fonts']:6.1%} / "
          f"{r['rejected Pillow font']:6.1%} (lookalikes {r['rejected lookalike letters']:5.1%})"
          f" | accepts test {r['test_accepted']:6.2%} png {r['png_accepted']:6.2%} | accuracy "
          f"accepted {r['accuracy_accepted']:.4f} (all {r['accuracy_all']:.4f}) png "
          f"{r['png_accuracy_accepted']:.4f} ({r['png_accuracy_all']:.4f})")
    print("  " + " " * 16 + " ".join(f"{k} {v:.0%}" for k, v in r["per_kind"].items()))
    return r


def measure(net: dn.Network, ds: dn.Dataset, sets: dict, png: np.ndarray, files: list[Path],
            accept: float) -> list[dict]:
    print(f"{net.meta.get('spec')} ({net.meta.get('result', {}).get('test_accuracy')})")
    scores = Scores(net, ds)
    ref = scores(ds.x_val)
    st, sp = scores(ds.x_test), scores(png)
    sn = {k: (scores(X), refused) for k, (X, refused, _) in sets.items()}
    kinds = sets["held-out fonts"][2]
    pred, pred_png = net.predict(ds.x_test), net.predict(png)
    _, judge_t = detector()
    rows = []
    for m in ("msp", "maxlogit", "energy", "maha", "ink", "judge", "judge+maxlogit"):
        if m == "judge+maxlogit":
            tj = np.quantile(ref["judge"], (1 - accept) / 2)
            tm = np.quantile(ref["maxlogit"], (1 - accept) / 2)
            ok = lambda s, tj=tj, tm=tm: (s["judge"] >= tj) & (s["maxlogit"] >= tm)  # noqa: E731
        else:
            t = judge_t if m == "judge" else np.quantile(ref[m], 1 - accept)
            ok = lambda s, m=m, t=t: s[m] >= t  # noqa: E731
        rejected = {k: ~ok(s) | refused for k, (s, refused) in sn.items()}
        rows.append(_row(m, ok(st), ok(sp), pred, pred_png, ds.y_test, rejected, kinds))
    # the real path of `digitnet predict`: files -> predict_files -> is_digit
    t0 = time.perf_counter()
    res = predict_files(net, files)
    is_digit = np.array([r["is_digit"] for r in res])
    print(f"  predict_files on {len(files):,} PNG files: accepts {is_digit.mean():.2%} "
          f"({time.perf_counter() - t0:.0f} s)")
    rows[-2]["predict_files_accepted"] = float(is_digit.mean())
    return rows


def eleven(spec: str, ds: dn.Dataset, sets: dict, png: np.ndarray, accept: float,
           n: int) -> list[dict]:
    """A network with an 11th class, "not a digit", trained on ``n`` generated non-digits."""
    imgs, _ = nondigits(n, seed=9, kinds=[k for k in KINDS if k != "blank"])
    neg, refused = prepared(imgs)
    neg = neg[~refused]
    x = np.concatenate([ds.x_train, neg])
    y = np.concatenate([ds.y_train, np.full(len(neg), 10)])
    full = dn.build_network(spec).config()["layers"]
    full[-1]["n_out"] = 11
    from digitnet.modelfile import network_from_config

    net = network_from_config({"layers": full, "loss": "softmax_cross_entropy"})
    net.initialize(0)
    dn.train(net, x, y, progress=False, **dn.training_options(spec))

    def digitness(X: np.ndarray) -> np.ndarray:
        return 1 - net.predict_proba(X)[:, 10]

    t = np.quantile(digitness(ds.x_val), 1 - accept)
    pred = net.predict_proba(ds.x_test)[:, :10].argmax(1)
    pred_png = net.predict_proba(png)[:, :10].argmax(1)
    rejected = {k: (digitness(X) < t) | r for k, (X, r, _) in sets.items()}
    print(f"eleven classes ({spec}, {len(neg):,} generated non-digits)")
    return [_row("eleven", digitness(ds.x_test) >= t, digitness(png) >= t, pred, pred_png,
                 ds.y_test, rejected, sets["held-out fonts"][2])]


if __name__ == "__main__":
    main()
