"""Model selection in parallel: scikit-learn's GridSearchCV over DigitnetClassifier, and
dn.sweep here and on a Dask cluster (a LocalCluster of 2 worker processes on loopback).

The grid: 2 specs x 2 learning rates on the sample shipped with digitnet (9,000 training images
after a 1,000-image validation split; 2,000 test images), one thread per fit. Printed: the
seconds of each run, the best configuration it found, its test accuracy, and whether the
parallel runs found the same numbers as the serial one.

    python bench/sweep_bench.py                   # 3 epochs a fit, cv=3
    python bench/sweep_bench.py --epochs 5 --specs 784-128-10,784-256-10 --lrs 0.03,0.1
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("DIGITNET_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

import digitnet as dn  # noqa: E402
from digitnet.sklearn import DigitnetClassifier  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--specs", default="784-64-10,784-256-10")
    p.add_argument("--lrs", default="0.01,0.1")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--cv", type=int, default=3)
    a = p.parse_args()
    specs, lrs = a.specs.split(","), [float(v) for v in a.lrs.split(",")]
    ds = dn.load_dataset("sample", val_size=1000)
    print(f"load: {os.getloadavg()[0]:.2f} (1 min), CPUs {os.cpu_count()}; "
          f"{len(ds.x_train)} train, {len(ds.x_val)} val, {len(ds.x_test)} test images")

    clf = DigitnetClassifier(epochs=a.epochs, optimizer="momentum", threads=1)
    space = {"model": specs, "lr": lrs}
    runs = {}
    for n_jobs in (1, 2):
        t0 = time.perf_counter()
        search = GridSearchCV(clf, space, cv=a.cv, n_jobs=n_jobs).fit(ds.x_train, ds.y_train)
        runs[n_jobs] = search
        print(f"GridSearchCV n_jobs={n_jobs}: {time.perf_counter() - t0:.1f}s for "
              f"{len(search.cv_results_['params']) * a.cv} fits + refit; best "
              f"{search.best_params_} (cv accuracy {search.best_score_:.4f}), test accuracy "
              f"{search.score(ds.x_test, ds.y_test):.4f}")
    same = np.array_equal(runs[1].cv_results_["mean_test_score"],
                          runs[2].cv_results_["mean_test_score"])
    print(f"  n_jobs=2 scores == n_jobs=1 scores: {same}")

    results = {}
    for where in ("jobs=1", "jobs=2", "dask"):
        t0 = time.perf_counter()
        if where == "dask":
            from dask.distributed import LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                              host="127.0.0.1", dashboard_address=None) as cluster:
                up = time.perf_counter() - t0
                r = dn.sweep(space, ds, epochs=a.epochs, optimizer="momentum",
                             scheduler=cluster.scheduler_address)
            note = f" (cluster start {up:.1f}s)"
        else:
            r = dn.sweep(space, ds, epochs=a.epochs, optimizer="momentum",
                         jobs=int(where[-1]), threads=1)
            note = ""
        results[where] = r
        best = r.trials[r.best]
        print(f"dn.sweep {where}: {time.perf_counter() - t0:.1f}s{note}; best "
              f"{best['config']['model']} lr {best['config']['lr']} "
              f"(val {best['val_accuracy']:.4f}, test {best['test_accuracy']:.4f})")
    key = [[(t["val_accuracy"], t["test_accuracy"]) for t in r.trials] for r in results.values()]
    print(f"  the three sweeps' trials identical: {key[0] == key[1] == key[2]}")
    print(results["dask"].table())


if __name__ == "__main__":
    main()
