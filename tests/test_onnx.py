"""ONNX export: the exported file, run in onnxruntime, gives digitnet's probabilities (max abs
difference <= 1e-5, the same predicted classes) for every preset, every layer type, one-vs-rest
models, a calibration temperature and an ensemble; onnx.checker accepts it; the command's errors
are one line. (Without the [onnx] extra, see test_extras.py.)"""

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="ONNX export needs the [onnx] extra (pip install onnx)")
ort = pytest.importorskip("onnxruntime", reason="running exported files needs onnxruntime")

import digitnet as dn  # noqa: E402
from digitnet import modelfile  # noqa: E402
from digitnet.cli import main  # noqa: E402
from digitnet.errors import ModelFileError, SpecError  # noqa: E402
from digitnet.nn.losses import softmax  # noqa: E402
from digitnet.onnx_export import to_onnx  # noqa: E402

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def x_test(sample):
    return sample.x_test


@pytest.fixture(scope="module")
def tiny():
    """512 training images of the sample: enough to move the weights (and BatchNorm's running
    statistics) away from their initial values in a second or two."""
    return dn.load_dataset("sample", train_size=512, val_size=0, test_size=0, seed=0)


def run_onnx(path, X):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["probabilities"], {"images": np.asarray(X, np.float32)})[0]


def assert_same(P_onnx, P_dn):
    assert P_onnx.shape == P_dn.shape
    assert np.abs(P_onnx - P_dn).max() <= TOLERANCE
    assert np.array_equal(P_onnx.argmax(axis=1), P_dn.argmax(axis=1))


def export_and_compare(net, X, tmp_path, expected=None):
    path = dn.export_onnx(net, tmp_path / "model.onnx")
    onnx.checker.check_model(str(path), full_check=True)
    P = run_onnx(path, X)
    assert_same(P, net.predict_proba(X) if expected is None else expected)
    return path, P


def randomize_batchnorm(net, seed=1):
    """Running statistics and scales far from 0/1, so a mistake in their use shows."""
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        if isinstance(layer, dn.BatchNorm):
            n = layer.n
            layer.state["running_mean"][:] = rng.normal(0, 0.5, n)
            layer.state["running_var"][:] = rng.uniform(0.3, 3, n)
            layer.params["gamma"][:] = rng.uniform(0.5, 1.5, n)
            layer.params["beta"][:] = rng.normal(0, 0.3, n)


@pytest.mark.parametrize("preset", ["mlp", "lenet5", "cnn", "fast"])
def test_every_preset_briefly_trained_gives_digitnets_probabilities(preset, tiny, sample,
                                                                    tmp_path):
    net = dn.build_network(preset)
    dn.train(net, tiny, epochs=1, optimizer="adam", lr=2e-3, batch_size=32, progress=False)
    _, P = export_and_compare(net, sample.x_test, tmp_path)
    assert np.mean(P.argmax(axis=1) == sample.y_test) > 0.3  # it learned: 47-62% here


def every_layer_network():
    """Every layer type digitnet has, with Deskew first, strides, 'same', 'valid' and numeric
    padding, pools that drop a row, BatchNorm on channels and on features, a Reshape to images
    of 2 channels after a Dense layer, global average pooling and Dropout."""
    layers = [
        dn.Reshape(28, 28, 1), dn.Deskew(),
        dn.Conv2D(1, 4, kernel=3, padding="same"), dn.BatchNorm(4), dn.LeakyReLU(0.1),
        dn.MaxPool2D(2),                                               # 14x14x4
        dn.Conv2D(4, 6, kernel=3, stride=2, padding=1), dn.Tanh(),     # 7x7x6
        dn.AvgPool2D(2),                                               # 3x3x6 (drops a row)
        dn.Conv2D(6, 8, kernel=2, padding="valid"), dn.Sigmoid(),     # 2x2x8
        dn.Flatten(),
        dn.Dense(32, 98), dn.BatchNorm(98), dn.ReLU(), dn.Dropout(0.3),
        dn.Reshape(7, 7, 2),
        dn.Conv2D(2, 8, kernel=5, padding="same"), dn.ReLU(),
        dn.AvgPool2D(0), dn.Flatten(),                                 # gap: 8 features
        dn.Dense(8, 10),
    ]
    net = dn.Network(layers, seed=3)
    randomize_batchnorm(net)
    return net


def test_a_network_of_every_layer_type(x_test, tmp_path):
    net = every_layer_network()
    path, _ = export_and_compare(net, x_test, tmp_path)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"Conv", "BatchNormalization", "LeakyRelu", "MaxPool", "Tanh", "AveragePool",
            "Sigmoid", "Gemm", "Relu", "GlobalAveragePool", "Transpose", "Softmax",
            "GridSample"} <= ops
    assert "Dropout" not in ops


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "tanh"])
def test_conv_and_dense_batchnorm_after_training(activation, tiny, x_test, tmp_path):
    net = dn.build_network("conv8-bn-avgpool2-conv8s2v-bn-pool2-32-bn-drop0.2-10",
                           activation=activation)
    dn.train(net, tiny, epochs=1, progress=False)  # running statistics of real activations
    bn = [layer for layer in net.layers if isinstance(layer, dn.BatchNorm)]
    assert len(bn) == 3 and all(np.abs(b.state["running_mean"]).max() > 1e-3 for b in bn)
    export_and_compare(net, x_test, tmp_path)


def test_reshape_of_images_to_other_images(x_test, tmp_path):
    net = dn.Network([dn.Reshape(28, 28, 1), dn.Conv2D(1, 4, kernel=3), dn.ReLU(),
                      dn.Reshape(14, 14, 16), dn.Conv2D(16, 4, kernel=3, stride=2), dn.ReLU(),
                      dn.Reshape(196), dn.Dense(196, 10)], seed=4)
    export_and_compare(net, x_test, tmp_path)


def test_gap_spec_and_a_float64_network(x_test, tmp_path):
    net = dn.build_network("conv8k5s2-bn-conv16-gap-10", dtype=np.float64)
    randomize_batchnorm(net)
    export_and_compare(net, x_test, tmp_path)  # a float32 file within 1e-5 of float64


@pytest.mark.parametrize("spec", ["784-64-1", dn.one_vs_rest_spec("lenet5")])
def test_one_vs_rest_models_give_both_columns(spec, tiny, x_test, tmp_path):
    net = dn.build_network(spec)
    dn.train(net, dn.one_vs_rest(tiny, 7), epochs=1, progress=False)
    net.meta.update(binary_target=7, class_names=["not 7", "7"])
    path, P = export_and_compare(net, x_test, tmp_path)
    assert P.shape == (len(x_test), 2) and np.allclose(P.sum(axis=1), 1, atol=1e-6)
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(props["class_names"]) == ["not 7", "7"]
    assert json.loads(props["binary_target"]) == 7


def test_a_calibration_temperature_divides_the_scores(x_test, tmp_path):
    net = dn.build_network("784-32-10", seed=1)
    expected = softmax(net.forward(x_test) / np.float32(2.5))
    net.meta["calibration"] = {"temperature": 2.5}
    path, _ = export_and_compare(net, x_test, tmp_path, expected=expected)
    assert "Div" in {n.op_type for n in onnx.load(str(path)).graph.node}
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert float(props["calibration_temperature"]) == 2.5
    del net.meta["calibration"]
    assert "Div" not in {n.op_type for n in to_onnx(net).graph.node}


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "2", True])
def test_a_bad_temperature_is_refused(bad):
    net = dn.build_network("784-10")
    net.meta["calibration"] = {"temperature": bad}
    with pytest.raises(SpecError, match="temperature"):
        to_onnx(net)


def test_an_ensemble_is_the_mean_of_its_members(x_test, tmp_path):
    nets = [dn.build_network("784-32-10", seed=1), dn.build_network("lenet5", seed=2),
            every_layer_network()]
    expected = np.mean([n.predict_proba(x_test) for n in nets], axis=0)
    path, _ = export_and_compare(nets, x_test, tmp_path, expected=expected)
    graph = onnx.load(str(path)).graph
    assert graph.node[-1].op_type == "Mean" and len(graph.node[-1].input) == 3
    with pytest.raises(SpecError, match="same classes"):
        to_onnx([nets[0], dn.build_network("784-32-1")])


def shifted(X, dy, dx):
    """The 28x28 images of X moved dy rows down, dx columns right (np.roll, then the rows and
    columns that came round cleared)."""
    imgs = np.roll(X.reshape(-1, 28, 28), (dy, dx), axis=(1, 2))
    if dy:
        imgs[:, slice(0, dy) if dy > 0 else slice(dy, None)] = 0
    if dx:
        imgs[:, :, slice(0, dx) if dx > 0 else slice(dx, None)] = 0
    return imgs.reshape(len(X), 784)


SHIFTS = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (2, -3)]


@pytest.mark.parametrize("members", [1, 2])
def test_shifted_views_are_averaged(members, x_test, tmp_path):
    nets = [dn.build_network("lenet5", seed=1), dn.build_network("784-32-10", seed=2)][:members]
    X = x_test[:300]
    expected = np.mean([n.predict_proba(shifted(X, dy, dx)) for n in nets for dy, dx in SHIFTS],
                       axis=0)
    path = dn.export_onnx(nets if members > 1 else nets[0], tmp_path / "m.onnx", shifts=SHIFTS)
    onnx.checker.check_model(str(path), full_check=True)
    assert_same(run_onnx(path, X), expected)
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(props["views"]) == [list(s) for s in SHIFTS]


@pytest.mark.parametrize("tta", [1, 5, 9])
def test_an_ensemble_with_test_time_augmentation(tta, x_test, tmp_path, capsys):
    ens = dn.Ensemble([dn.build_network("fast", seed=1), every_layer_network()], tta=tta)
    X = x_test[:300]
    dn.save_model(ens, tmp_path / "ensemble.npz")
    assert main(["export", str(tmp_path / "ensemble.npz"), str(tmp_path / "e.onnx")]) == 0
    assert "output probabilities (N, 10)" in capsys.readouterr().out
    onnx.checker.check_model(str(tmp_path / "e.onnx"), full_check=True)
    assert_same(run_onnx(tmp_path / "e.onnx", X), ens.predict_proba(X))
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "e.onnx")).metadata_props}
    assert props["ensemble_members"] == "2" and ("views" in props) == (tta > 1)


def test_deskew_gives_digitnets_images_for_odd_ones_too(x_test, tmp_path):
    """Deskew alone before one Dense layer, so its output pixels show in the probabilities:
    digits, a blank image, one line of ink (no slant to measure), a lone dot in a corner, a
    steep stroke (the shear capped), negative values and a 20x12 image."""
    X = [x_test[:100]]
    blank = np.zeros((1, 784), np.float32)
    line = blank.copy().reshape(1, 28, 28)
    line[0, 9, 3:20] = 1
    dot = blank.copy().reshape(1, 28, 28)
    dot[0, 0, 27] = 1
    steep = blank.copy().reshape(1, 28, 28)
    steep[0, np.arange(28), np.clip(np.arange(28) * 3 // 2, 0, 27)] = 1
    X += [blank, line.reshape(1, 784), dot.reshape(1, 784), steep.reshape(1, 784),
          x_test[100:110] - 0.3]
    net = dn.Network([dn.Reshape(28, 28, 1), dn.Deskew(), dn.Flatten(), dn.Dense(784, 10)],
                     seed=4)
    export_and_compare(net, np.concatenate(X).astype(np.float32), tmp_path)
    small = dn.Network([dn.Reshape(20, 12, 1), dn.Deskew(), dn.Flatten(), dn.Dense(240, 3)],
                       seed=5)
    export_and_compare(small, x_test[:50, :240], tmp_path)


def test_the_file_says_what_it_takes_and_gives(tmp_path):
    net = dn.build_network("784-16-10")
    net.meta["class_names"] = list("abcdefghij")
    model = onnx.load(str(dn.export_onnx(net, tmp_path / "m.onnx")))
    onnx.checker.check_model(model, full_check=True)
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "images" and out.name == "probabilities"
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["N", 784] and inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert "[0, 1]" in inp.doc_string and "pixel / 255" in inp.doc_string
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["class_names"]) == list("abcdefghij")
    assert props["digitnet_version"] == dn.__version__
    assert model.opset_import[0].version == 17 and model.ir_version == 8
    assert model.producer_name == "digitnet"


@pytest.mark.parametrize("n", [1, 3])
def test_any_batch_size(n, x_test, tmp_path):
    net = dn.build_network("fast")
    path = dn.export_onnx(net, tmp_path / "m.onnx")
    assert_same(run_onnx(path, x_test[:n]), net.predict_proba(x_test[:n]))


def test_a_layer_of_your_own_is_refused_by_name(tmp_path, monkeypatch):
    class Doubler(dn.Layer):
        def forward(self, X, training=False):
            return 2 * X

    class MyDense(dn.Dense):
        pass

    monkeypatch.setitem(modelfile.LAYER_TYPES, "Doubler", Doubler)  # as dn.register_layer does
    for name, net in (("Doubler", dn.Network([dn.Dense(784, 10), Doubler()])),
                      ("MyDense", dn.Network([MyDense(784, 10)]))):
        with pytest.raises(SpecError, match=f"layer .* \\({name}\\).*of your own"):
            dn.export_onnx(net, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_a_model_file_and_a_read_only_target(model_file, x_test, tmp_path):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"keep me")
    out.chmod(0o444)
    with pytest.raises(ModelFileError, match="read-only"):
        dn.export_onnx(model_file, out)
    assert out.read_bytes() == b"keep me"
    dn.export_onnx(model_file, out, force=True)
    assert_same(run_onnx(out, x_test), dn.load_model(model_file).predict_proba(x_test))


# --- the command ---------------------------------------------------------------------------------
def test_digitnet_export(model_file, x_test, tmp_path, capsys):
    out = tmp_path / "model.onnx"
    assert main(["export", str(model_file), str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["input"] == "images" and report["input_shape"] == ["N", 784]
    assert report["output_shape"] == ["N", 10] and report["bytes"] == out.stat().st_size
    assert_same(run_onnx(out, x_test), dn.load_model(model_file).predict_proba(x_test))


@pytest.mark.parametrize("model, out, message", [
    ("missing.npz", "m.onnx", "no model file"),
    ("garbage.npz", "m.onnx", "not a digitnet model file"),
    ("MODEL", "no/such/folder/m.onnx", "does not exist"),
    ("MODEL", ".", "it is a folder"),
])
def test_export_errors_are_one_line(model, out, message, model_file, tmp_path, capsys,
                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "garbage.npz").write_bytes(b"not a zip file")
    model = str(model_file) if model == "MODEL" else model
    assert main(["export", model, out]) == 1
    err = capsys.readouterr().err
    assert err.startswith("digitnet: error: ") and err.count("\n") == 1 and message in err
    assert not (tmp_path / "m.onnx").exists()
