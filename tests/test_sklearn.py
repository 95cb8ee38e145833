"""digitnet.sklearn.DigitnetClassifier: scikit-learn's estimator checks, labels of any kind,
partial_fit as resumed epochs, and use in GridSearchCV, cross_val_score and a Pipeline."""

import pickle
import time

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

import digitnet as dn  # noqa: E402
from digitnet.sklearn import EXPECTED_FAILED_CHECKS, DigitnetClassifier  # noqa: E402

#: checks that cannot run here (no pandas; array API off): they report themselves skipped
SKIPPED = {"check_array_api_input", "check_classifier_data_not_an_array"}


def run_checks(clf, expected=None):
    results = check_estimator(clf, expected_failed_checks=expected, on_fail=None,
                              on_skip=None)
    return {r["check_name"]: r["status"] for r in results}, results


@pytest.mark.slow
def test_check_estimator_passes_but_for_the_listed_float32_checks():
    status, results = run_checks(DigitnetClassifier("784-32-10", epochs=20, threads=1),
                                 EXPECTED_FAILED_CHECKS)
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert not failed
    assert len(status) > 40
    assert {k for k, v in status.items() if v == "skipped"} <= SKIPPED
    # the list is honest: those checks do fail in float32 (which of them depends on the
    # network and the data: both fail for the default model) ...
    xfail = {k for k, v in status.items() if v == "xfail"}
    assert xfail and xfail <= set(EXPECTED_FAILED_CHECKS)


@pytest.mark.slow
def test_check_estimator_passes_every_check_in_float64():
    status, results = run_checks(DigitnetClassifier("784-32-10", epochs=20, threads=1,
                                                    float64=True))
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert not failed  # ... and only for float32's rounding
    assert set(EXPECTED_FAILED_CHECKS) <= {k for k, v in status.items() if v == "passed"}


@pytest.fixture(scope="module")
def small(sample):
    """2,000 training and 500 test images of the sample."""
    return (sample.x_train[:2000], sample.y_train[:2000], sample.x_test[:500],
            sample.y_test[:500])


def test_any_labels_map_to_classes_and_back(small):
    x, y, xt, yt = small
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])
    clf = DigitnetClassifier("784-32-10", epochs=2, threads=1).fit(x, names[y])
    assert list(clf.classes_) == sorted(names) and clf.n_features_in_ == 784
    assert clf.network_.n_classes == 10 and clf.network_.class_names == sorted(names)
    pred = clf.predict(xt)
    assert set(pred) <= set(names)
    assert clf.score(xt, names[yt]) > 0.8
    P = clf.predict_proba(xt)
    assert P.shape == (500, 10) and np.allclose(P.sum(axis=1), 1, atol=1e-5)
    assert np.array_equal(clf.classes_[P.argmax(axis=1)], pred)
    # three of the classes: a network of 3 outputs
    keep = np.isin(y, [1, 4, 7])
    clf3 = DigitnetClassifier("784-32-10", epochs=2, threads=1).fit(x[keep], y[keep] * 10)
    assert list(clf3.classes_) == [10, 40, 70] and clf3.network_.n_outputs == 3
    assert set(clf3.predict(xt)) <= {10, 40, 70}


def test_params_clone_and_pickle(small):
    x, y, xt, _ = small
    clf = DigitnetClassifier("784-32-10", lr=0.05, epochs=1, threads=1)
    params = clf.get_params()
    assert params["model"] == "784-32-10" and params["lr"] == 0.05 and params["epochs"] == 1
    assert params["optimizer"] is None  # the recipe's
    assert {"batch_size", "schedule", "warmup", "augment", "label_smoothing", "weight_decay",
            "seed", "momentum", "betas", "dropout", "activation"} <= set(params)
    clf.set_params(model="784-16-10", seed=3)
    assert clone(clf).get_params() == clf.get_params()
    clf.fit(x, y)
    again = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(again.predict_proba(xt), clf.predict_proba(xt))
    assert clf.network_.meta["spec"] == "784-16-10"


def test_the_spec_fits_the_data_and_says_what_does_not():
    x, y = load_digits(return_X_y=True)  # 8x8 images, 64 columns
    x = x / 16
    clf = DigitnetClassifier("784-32-10", epochs=10, threads=1).fit(x[:1000], y[:1000])
    assert clf.network_.n_inputs == 64 and clf.score(x[1000:], y[1000:]) > 0.8
    conv = DigitnetClassifier("8x8x1-conv8-pool2-10", epochs=10, augment=False,
                              threads=1)
    assert conv.fit(x[:1000], y[:1000]).score(x[1000:], y[1000:]) > 0.8
    with pytest.raises(ValueError, match=r"takes 28x28x1 images \(784 values per row\), X has "
                                         r"64 columns.*8x8x1"):
        DigitnetClassifier("lenet5").fit(x, y)
    with pytest.raises(ValueError, match="learning rate|lr"):
        DigitnetClassifier("784-16-10", lr=-1.0, epochs=1).fit(x, y)
    with pytest.raises(dn.DigitnetError, match="augment"):
        DigitnetClassifier("784-16-10", augment=True, epochs=1).fit(x, y)


def test_partial_fit_resumes_the_run_epoch_by_epoch(small):
    x, y, xt, _ = small
    whole = DigitnetClassifier("784-32-10", epochs=3, threads=1).fit(x, y)
    steps = DigitnetClassifier("784-32-10", epochs=3, threads=1)
    for k in range(1, 4):
        steps.partial_fit(x, y, classes=np.arange(10))
        assert steps.n_iter_ == k
    for a, b in zip(steps.network_.get_weights(), whole.network_.get_weights(), strict=True):
        assert np.array_equal(a, b)  # 3 calls == fit(epochs=3), bit for bit
    before = steps.predict_proba(xt)
    steps.partial_fit(x, y)  # the run is done: one epoch more
    assert steps.n_iter_ == 4 and steps.network_.train_state.options["epochs"] == 4
    assert not np.array_equal(steps.predict_proba(xt), before)
    steps.partial_fit(x[:300], y[:300])  # another number of images: a new one-epoch run
    assert steps.n_iter_ == 1 and steps.network_.train_state.options["n_train"] == 300
    with pytest.raises(ValueError, match="labels the classifier was not set up for"):
        steps.partial_fit(x[:10], y[:10] + 100)


def test_cross_val_score_and_a_pipeline():
    x, y = load_digits(return_X_y=True)
    pipe = make_pipeline(MinMaxScaler(), DigitnetClassifier("784-32-10", epochs=10, threads=1))
    scores = cross_val_score(pipe, x, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8


@pytest.mark.slow
def test_grid_search_over_specs_and_rates_in_parallel(small):
    """The issue's target: 2 specs x 2 learning rates on the sample, n_jobs=2; the same best
    configuration as one process finds (training is repeatable for a seed with one thread)."""
    x, y, xt, yt = small
    grid = {"model": ["784-8-10", "784-32-10"], "lr": [0.001, 0.1]}
    clf = DigitnetClassifier(epochs=2, optimizer="momentum", threads=1)
    t0 = time.perf_counter()
    search = GridSearchCV(clf, grid, cv=2, n_jobs=2).fit(x, y)
    parallel = time.perf_counter() - t0
    serial = GridSearchCV(clf, grid, cv=2, n_jobs=1).fit(x, y)
    assert search.best_params_ == serial.best_params_ == {"model": "784-32-10", "lr": 0.1}
    assert np.array_equal(search.cv_results_["mean_test_score"],
                          serial.cv_results_["mean_test_score"])
    assert search.best_estimator_.score(xt, yt) > 0.8
    assert len(search.cv_results_["params"]) == 4 and parallel > 0


def test_elastic_bends_the_augmented_images_and_says_what_it_takes(small):
    x, y, xt, yt = small
    clf = DigitnetClassifier("784-32-10", elastic=2, epochs=1, threads=1).fit(x, y)
    augment = clf.network_.train_state.options["augment"]
    assert augment and augment["elastic"] == 2.0        # elastic implies augment
    plain = DigitnetClassifier("784-32-10", augment=True, epochs=1, threads=1).fit(x, y)
    assert plain.network_.train_state.options["augment"]["elastic"] == 0.0
    assert not np.array_equal(clf.predict_proba(xt), plain.predict_proba(xt))
    with pytest.raises(ValueError, match="elastic=2 bends the augmented images"):
        DigitnetClassifier("784-16-10", elastic=2, augment=False, epochs=1).fit(x, y)
    for bad in (-1, 9, float("nan"), "x"):
        with pytest.raises(ValueError, match="elastic must be a number of pixels from 0 to 8"):
            DigitnetClassifier("784-16-10", elastic=bad, epochs=1).fit(x, y)
    assert DigitnetClassifier(elastic=0).get_params()["elastic"] == 0


def test_the_best_presets_warp_and_decay_come_from_its_recipe(small):
    x, y, _, _ = small
    x, y = x[:64], y[:64]
    clf = DigitnetClassifier("best", epochs=1, batch_size=64, threads=1).fit(x, y)
    options = clf.network_.train_state.options
    assert options["augment"]["elastic"] == 2.0 and options["weight_decay"] == 5e-4
    clf = DigitnetClassifier("best", elastic=0, weight_decay=0, epochs=1, batch_size=64,
                             threads=1).fit(x, y)
    options = clf.network_.train_state.options
    assert options["augment"]["elastic"] == 0.0 and options["weight_decay"] == 0
