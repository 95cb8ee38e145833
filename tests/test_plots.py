"""Each figure of digitnet.plots: a Figure with the expected panels, titles and data."""

import io
from types import SimpleNamespace

import matplotlib.colors as mcolors
import numpy as np
import pytest
from matplotlib.figure import Figure

import digitnet as dn
from digitnet import plots


@pytest.fixture(scope="module")
def trained(sample):
    """A small network trained for two epochs, its history and its test predictions."""
    net = dn.build_network("784-32-16-10")
    hist = dn.train(net, sample.x_train[:2000], sample.y_train[:2000], x_val=sample.x_val,
                    y_val=sample.y_val, epochs=2, progress=False)
    x, y = sample.x_test[:300], sample.y_test[:300]
    P = net.predict_proba(x)
    return SimpleNamespace(net=net, hist=hist, x=x, y=y, P=P, pred=P.argmax(axis=1))


def titles(fig):
    return [ax.get_title() for ax in fig.axes]


def is_wrong_colour(color):
    return mcolors.same_color(color, plots.WRONG)


def test_loss_curves_per_iteration_and_per_epoch(trained):
    fig = plots.loss_curves(trained.hist)
    assert isinstance(fig, Figure)
    assert titles(fig) == ["Loss per iteration", "Loss per epoch", "Accuracy per epoch"]
    it, loss, acc = fig.axes
    assert it.get_xlabel().startswith("iteration") and it.get_ylabel() == "loss"
    assert len(it.lines[0].get_ydata()) == len(trained.hist.batch_loss)
    for ax in (loss, acc):
        assert ax.get_xlabel() == "epoch"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training", "validation"]
    np.testing.assert_allclose(acc.lines[1].get_ydata(), trained.hist.val_accuracy)
    assert [ax.get_title() for ax in plots.loss_curves(trained.hist, per="epoch").axes] == \
        ["Loss per epoch", "Accuracy per epoch"]
    assert len(plots.loss_curves(trained.hist.as_dict(), per="iteration").axes) == 1


def test_history_plots_itself_in_one_call(trained):
    fig = trained.hist.plot()
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    buf = io.BytesIO()
    fig.savefig(buf, format="png")  # no display needed
    assert buf.getvalue().startswith(b"\x89PNG")


@pytest.mark.slow
def test_figures_show_as_one_png_in_ipython_without_pyplot(trained):
    """Jupyter shows what IPython's display formatter gives: a PNG image, also without
    `%matplotlib inline` (tests/test_notebooks.py checks it in a real kernel)."""
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(trained.hist.plot())
    assert data["image/png"].startswith(b"\x89PNG")
    assert data["text/plain"].startswith("<Figure size")
    assert [k for k in data if k.startswith("image/")] == ["image/png"]


def test_loss_curves_of_an_empty_history_say_so():
    with pytest.raises(ValueError, match="empty"):
        plots.loss_curves(dn.History())


def test_digit_grid_marks_wrong_predictions(trained):
    pred = trained.y.copy()
    pred[[3, 7]] = (pred[[3, 7]] + 1) % 10
    fig = plots.digit_grid(trained.x, trained.y, pred)
    assert len(fig.axes) == 25
    wrong = [i for i, ax in enumerate(fig.axes) if is_wrong_colour(ax.title.get_color())]
    assert wrong == [3, 7]
    assert fig.axes[3].get_title() == f"{pred[3]} (true {trained.y[3]})"
    assert fig.axes[0].get_title() == str(trained.y[0])
    assert fig.axes[0].images[0].get_array().shape == (28, 28)
    assert "2 wrong" in fig.get_suptitle()
    assert plots.digit_grid(trained.x, trained.y, trained.y).get_suptitle().endswith("all right")


def test_digit_grid_with_labels_only_and_other_sizes(trained):
    fig = plots.digit_grid(trained.x.reshape(-1, 28, 28, 1), trained.y, n=12, cols=4,
                           class_names=list("abcdefghij"))
    assert len(fig.axes) == 12
    assert titles(fig)[:3] == [list("abcdefghij")[c] for c in trained.y[:3]]
    with pytest.raises(ValueError, match="square"):
        plots.digit_grid(np.zeros((3, 10)))


def test_digit_probabilities_shows_the_prediction_and_its_bars(trained):
    i = int(np.flatnonzero(trained.pred == trained.y)[0])
    fig = plots.digit_probabilities(trained.x[i], trained.P[i], trained.y[i])
    img, bars = fig.axes
    label = trained.y[i]
    assert img.get_title() == f"Prediction: {label}, Label: {label}"
    assert bars.get_ylabel() == "probability" and bars.get_xlabel() == "class"
    np.testing.assert_allclose([p.get_height() for p in bars.patches], trained.P[i], rtol=1e-6)
    # a 28x28 image and no label work too
    fig = plots.digit_probabilities(trained.x[i].reshape(28, 28), trained.P[i])
    assert fig.axes[0].get_title() == f"Prediction: {trained.pred[i]}"


def test_confusion_matrix_counts_every_pair(trained):
    fig = plots.confusion_matrix(trained.y, trained.pred)
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # the matrix and its colour bar
    counts = np.asarray(ax.images[0].get_array())
    assert counts.shape == (10, 10) and counts.sum() == len(trained.y)
    assert np.trace(counts) == np.sum(trained.pred == trained.y)
    assert counts[trained.y[0], trained.pred[0]] >= 1
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")


def test_confident_mistakes_are_sorted_by_confidence(trained):
    wrong = np.flatnonzero(trained.pred != trained.y)
    fig = plots.confident_mistakes(trained.x, trained.y, trained.P, n=6)
    assert len(fig.axes) == min(6, len(wrong))
    surest = wrong[np.argmax(trained.P[wrong, trained.pred[wrong]])]
    assert fig.axes[0].get_title().startswith(f"{trained.pred[surest]} (")
    assert fig.axes[0].get_title().endswith(f"true {trained.y[surest]}")
    # no mistakes: one panel that says so
    fig = plots.confident_mistakes(trained.x, trained.pred, trained.P)
    assert len(fig.axes) == 1 and "No mistakes" in fig.axes[0].texts[0].get_text()


def test_per_class_accuracy_bars(trained):
    fig = plots.per_class_accuracy(trained.y, trained.pred)
    (ax,) = fig.axes
    heights = [p.get_height() for p in ax.patches]
    expected = [np.mean(trained.pred[trained.y == c] == c) for c in range(10)]
    np.testing.assert_allclose(heights, expected)
    assert ax.get_ylabel() == "accuracy" and ax.get_xlabel() == "true class"
    assert np.isclose(ax.lines[0].get_ydata()[0], np.mean(trained.pred == trained.y))


def test_reliability_diagram_bars_are_the_bins_accuracy(trained):
    fig = plots.reliability_diagram(trained.y, trained.P)
    ax, ax_n = fig.axes
    rel = dn.reliability(trained.P, trained.y)
    filled = [b for b in rel["bins"] if b["count"]]
    np.testing.assert_allclose([p.get_height() for p in ax.patches],
                               [b["accuracy"] for b in filled])
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 1],
                               [b["confidence"] for b in filled])
    assert [p.get_height() for p in ax_n.patches] == [b["count"] for b in rel["bins"]]
    assert f"ECE {rel['ece']:.2%}" in ax.get_title()


def test_first_layer_weights_of_a_dense_layer_are_28x28_templates(trained):
    fig = plots.first_layer_weights(trained.net, n=20)
    assert len(fig.axes) == 20
    W = trained.net.layers[0].params["W"]
    np.testing.assert_allclose(fig.axes[5].images[0].get_array(), W[:, 5].reshape(28, 28))
    assert "templates" in fig.get_suptitle()
    fig = plots.first_layer_weights(dn.build_network("784-10"))
    assert len(fig.axes) == 10 and titles(fig) == [str(c) for c in range(10)]


class StubConv:
    """Looks like a Conv2D layer to the plot: params["W"] of shape (kh, kw, C_in, C_out)."""

    def __init__(self, c_in, c_out):
        self.params = {"W": np.random.default_rng(0).standard_normal((5, 5, c_in, c_out)),
                       "b": np.zeros(c_out)}


def test_first_layer_weights_of_a_conv_layer_are_filters():
    no_params = SimpleNamespace(params={})
    fig = plots.first_layer_weights(SimpleNamespace(layers=[no_params, StubConv(1, 8)]))
    assert len(fig.axes) == 8
    assert all(ax.images[0].get_array().shape == (5, 5) for ax in fig.axes)
    assert "filters" in fig.get_suptitle()
    # several input channels: one row per input channel
    fig = plots.first_layer_weights(StubConv(3, 4))
    assert len(fig.axes) == 12
    assert "one row per input channel" in fig.get_suptitle()


def test_first_layer_weights_of_other_inputs_is_a_heatmap():
    fig = plots.first_layer_weights(dn.Dense(30, 5))
    assert len(fig.axes) == 2 and fig.axes[0].images[0].get_array().shape == (30, 5)
    with pytest.raises(ValueError, match="no layer with weights"):
        plots.first_layer_weights(SimpleNamespace(layers=[dn.ReLU()]))


def test_activation_histograms_one_panel_per_hidden_layer_and_the_scores(trained):
    fig = plots.activation_histograms(trained.net, trained.x)
    assert len(fig.axes) == 3
    assert [t.split("\n")[0] for t in titles(fig)] == [
        "layer 1: ReLU", "layer 3: ReLU", "layer 4: scores (output)"]
    assert all(ax.get_xlabel() == "value" and ax.patches for ax in fig.axes)
