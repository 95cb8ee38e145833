"""The doctor of a learner's own code (`digitnet doctor --code`, `dn.doctor.check_code`).

tests/learner_code/ holds correct networks written the way learners write them, in five
conventions. Each test plants one typical bug by replacing a snippet (the snippet must occur
exactly once, so a plant cannot silently miss) and checks that the doctor names it with the right
id and array; the files as they are must give no findings.
"""

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import last_json

import digitnet as dn
from digitnet.cli import main
from digitnet.doctor import FINDINGS, check_code

HERE = Path(__file__).parent / "learner_code"
CONVENTIONS = ["kaggle_style", "course_dict", "deep_caches", "folded_bias", "rows_layout"]
K, C, D, F, R = CONVENTIONS

# convention -> bug -> ([(snippet, replacement), ...], expected id, expected array or None)
BUGS = {
    K: {
        "softmax_all_elements": ([("np.sum(e, axis=0, keepdims=True)", "np.sum(e)")],
                                 "bad_softmax", "A2"),
        "softmax_wrong_axis": ([("np.sum(e, axis=0, keepdims=True)",
                                 "np.sum(e, axis=1, keepdims=True)")], "bad_softmax", "A2"),
        "db_wrong_axis": ([("db1 = 1 / m * np.sum(dZ1, axis=1, keepdims=True)",
                            "db1 = 1 / m * np.sum(dZ1, axis=0, keepdims=True)")],
                          "wrong_gradient", "db1"),
        "db_summed_over_all": ([("db2 = 1 / m * np.sum(dZ2, axis=1, keepdims=True)",
                                 "db2 = 1 / m * np.sum(dZ2)")], "wrong_gradient", "db2"),
        "one_over_m_twice": ([("dZ2 = A2 - one_hot_Y", "dZ2 = (A2 - one_hot_Y) / m")],
                             "wrong_gradient", "dW2"),
        "one_over_m_missing": ([("dW2 = 1 / m * dZ2.dot(A1.T)", "dW2 = dZ2.dot(A1.T)")],
                               "wrong_gradient", "dW2"),
        "global_m_constant": ([("    m = Y.size\n", "    m = m_train\n"),
                               ("\ndata = pd", "\nm_train = 41000\ndata = pd")],
                              "global_batch_size", "dW2"),
        "global_m_from_data": ([("    m = Y.size\n", ""),
                                ("np.random.shuffle(data)",
                                 "m, n = data.shape\nnp.random.shuffle(data)")],
                               "global_batch_size", None),
        "relu_derivative": ([("return Z > 0", "return np.maximum(Z, 0)")], "wrong_gradient",
                            "dW1"),
        "pixels_not_scaled": ([("data_train[1:] / 255.", "data_train[1:]")], "unscaled_input",
                              None),
    },
    C: {
        "small_init": ([("np.sqrt(2.0 / n_x)", "0.01"), ("np.sqrt(2.0 / n_h1)", "0.01"),
                        ("np.sqrt(2.0 / n_h2)", "0.01")], "collapsed_predictions", None),
        "softmax_all_elements": ([("t / t.sum(axis=0, keepdims=True)", "t / t.sum()")],
                                 "bad_softmax", "A3"),
        "softmax_wrong_axis": ([("t / t.sum(axis=0, keepdims=True)",
                                 "t / t.sum(axis=1, keepdims=True)")], "bad_softmax", "A3"),
        "db_wrong_axis": ([("db1 = np.sum(dZ1, axis=1, keepdims=True) / m",
                            "db1 = np.sum(dZ1, axis=0, keepdims=True) / m")],
                          "wrong_gradient", "db1"),
        "one_over_m_twice": ([("dZ3 = A3 - Y", "dZ3 = (A3 - Y) / m")], "wrong_gradient", "dW3"),
        "global_m_constant": ([("    m = X.shape[1]\n", "    m = m_train\n"),
                               ("n_x, n_h1, n_h2, n_y = 784",
                                "m_train = 41000\nn_x, n_h1, n_h2, n_y = 784")],
                              "global_batch_size", "dW3"),
        "relu_derivative": ([("return (Z > 0).astype(float)", "return np.maximum(0, Z)")],
                            "wrong_gradient", "dW2"),
        "pixels_not_scaled": ([("-1).T / 255.0", "-1).T")], "unscaled_input", None),
        "cost_without_1_over_m": ([("cost = -np.sum(Y * np.log(A3)) / m",
                                    "cost = -np.sum(Y * np.log(A3))")], "wrong_cost", None),
    },
    D: {
        "small_init": ([("np.sqrt(2 / layer_dims[l - 1])", "0.01")], "collapsed_predictions",
                       None),
        "softmax_all_elements": ([("e / np.sum(e, axis=0, keepdims=True)", "e / np.sum(e)")],
                                 "bad_softmax", "A4"),
        "softmax_wrong_axis": ([("e / np.sum(e, axis=0, keepdims=True)",
                                 "e / np.sum(e, axis=1, keepdims=True)")], "bad_softmax", "A4"),
        "db_wrong_axis": ([("db = 1 / m * np.sum(dZ, axis=1, keepdims=True)",
                            "db = 1 / m * np.sum(dZ, axis=0, keepdims=True)")],
                          "wrong_gradient", "db4"),
        "one_over_m_twice": ([("dZL = AL - Y", "dZL = (AL - Y) / Y.shape[1]")],
                             "wrong_gradient", "dW4"),
        "global_m_constant": ([("m = A_prev.shape[1]", "m = m_train"),
                               ("layers_dims = [", "m_train = 41000\nlayers_dims = [")],
                              "global_batch_size", "dW4"),
        "relu_derivative": ([("    dZ[Z <= 0] = 0\n", "")], "wrong_gradient", "dW3"),
        "pixels_not_scaled": ([("-1).T / 255.", "-1).T")], "unscaled_input", None),
        "binary_cross_entropy_cost": ([("np.sum(Y * np.log(AL))",
                                        "np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL))")],
                                      "wrong_cost", None),
    },
    F: {
        "softmax_all_elements": ([("e / e.sum(axis=0, keepdims=True)", "e / e.sum()")],
                                 "bad_softmax", "a2"),
        "softmax_wrong_axis": ([("e / e.sum(axis=0, keepdims=True)",
                                 "e / e.sum(axis=1, keepdims=True)")], "bad_softmax", "a2"),
        "one_over_m_twice": ([("    dw2 = dz2 @", "    dz2 = dz2 / m\n    dw2 = dz2 @")],
                             "wrong_gradient", "dw2"),
        "global_m_from_data": ([("    m = x.shape[1]\n", ""),
                                ("sizes = [784", "m = X.shape[1]\nsizes = [784")],
                               "global_batch_size", None),
        "relu_derivative": ([("* (z1 > 0)", "* z1")], "wrong_gradient", "dw1"),
        "pixels_not_scaled": ([("X[:, 1:].T / 255.0", "X[:, 1:].T")], "unscaled_input", None),
    },
    R: {
        "softmax_all_elements": ([("e / e.sum(axis=1, keepdims=True)", "e / e.sum()")],
                                 "bad_softmax", "A2"),
        "softmax_wrong_axis": ([("e / e.sum(axis=1, keepdims=True)",
                                 "e / e.sum(axis=0, keepdims=True)")], "bad_softmax", "A2"),
        "db_wrong_axis": ([("db1 = dZ1.sum(axis=0, keepdims=True) / m",
                            "db1 = dZ1.sum(axis=1, keepdims=True) / m")], "wrong_gradient",
                          "db1"),
        "one_over_m_twice": ([("dZ2 = A2 - Y", "dZ2 = (A2 - Y) / m")], "wrong_gradient", "dW2"),
        "tanh_derivative": ([("* (1 - A1 ** 2)", "* (1 - A1)")], "wrong_gradient", "dW1"),
        "pixels_not_scaled": ([("/ 255.0", "")], "unscaled_input", None),
        "cost_sign": ([("return -np.mean(", "return np.mean(")], "wrong_cost", None),
    },
}
#: bugs that only show once the network has trained a little (slow: a few hundred steps)
TRAINED = {"small_init"}
CASES = [pytest.param(conv, bug, marks=[pytest.mark.slow] if bug in TRAINED else [])
         for conv, bugs in BUGS.items() for bug in bugs]


def plant(conv: str, bug: str, tmp_path: Path) -> Path:
    text = (HERE / f"{conv}.py").read_text()
    for old, new in BUGS[conv][bug][0]:
        assert text.count(old) == 1, f"{conv}/{bug}: {old!r} occurs {text.count(old)} times"
        text = text.replace(old, new)
    path = tmp_path / f"{conv}_{bug}.py"
    path.write_text(text)
    return path


def check_format(d):
    data = d.as_dict()
    json.dumps(data, allow_nan=False)
    for f in data["findings"]:
        assert set(f) == {"id", "message", "evidence"} and f["id"] in FINDINGS
        assert len(f["message"]) > 40


@pytest.mark.parametrize("conv", [pytest.param(c, marks=[pytest.mark.slow] if c in (D, R) else [])
                                  for c in CONVENTIONS])
def test_correct_code_in_every_convention_gets_no_findings(conv):
    d = check_code(HERE / f"{conv}.py")
    assert d.findings == [], str(d)
    check_format(d)
    text = str(d)
    assert "agree with the formulas" in text and "agree with the true gradient" in text
    assert d.cost["after"] < 0.6 < d.cost["before"]  # their own functions trained it
    assert "no findings" in text


@pytest.mark.parametrize("conv, bug", CASES)
def test_each_planted_bug_is_named_with_its_id_and_array(conv, bug, tmp_path):
    _, fid, array = BUGS[conv][bug]
    d = check_code(plant(conv, bug, tmp_path), steps=300 if bug in TRAINED else 0)
    check_format(d)
    main_findings = [f for f in d.findings if f.id not in ("not_learning",)]
    assert main_findings and main_findings[0].id == fid, str(d)
    if array is not None:
        assert main_findings[0].evidence["array"] == array, str(d)
        assert array in main_findings[0].message


def test_the_messages_speak_the_learners_notation(tmp_path):
    msg = {bug: check_code(plant(K, bug, tmp_path), steps=0).findings[0].message
           for bug in ("softmax_all_elements", "softmax_wrong_axis", "db_wrong_axis",
                       "one_over_m_twice", "global_m_constant", "relu_derivative")}
    assert "each column should sum to 1" in msg["softmax_all_elements"]
    assert "sum over all elements" in msg["softmax_all_elements"]
    assert "np.sum(e, axis=0, keepdims=True)" in msg["softmax_wrong_axis"]
    assert "axis=1" in msg["softmax_wrong_axis"]  # the axis they used: over the batch
    assert "np.sum(dZ1, axis=1, keepdims=True)" in msg["db_wrong_axis"]
    assert "b1 silently changes shape" in msg["db_wrong_axis"]
    assert "1/m is applied twice" in msg["one_over_m_twice"]
    assert "m_train = 41000" in msg["global_m_constant"]
    assert "(Z1 > 0)" in msg["relu_derivative"] and "np.maximum(Z1, 0)" in msg["relu_derivative"]
    rows = check_code(plant(R, "softmax_wrong_axis", tmp_path), steps=0).findings[0].message
    assert "each row should sum to 1" in rows and "axis=1, keepdims=True" in rows


@pytest.mark.slow
def test_small_init_collapses_and_the_fix_is_written_in_their_notation(tmp_path):
    d = check_code(plant(D, "small_init", tmp_path))
    assert {"not_learning", "collapsed_predictions", "vanishing_activations"} <= set(d.ids)
    collapse = d.findings[d.ids.index("collapsed_predictions")]
    assert "np.sqrt(2 / n_prev)" in collapse.message and "W1 = np.random.randn(128, 784)" \
        in collapse.message
    assert "--init" not in collapse.message  # digitnet's options mean nothing to their code
    layers = d.findings[d.ids.index("vanishing_activations")].evidence["rms_ratio_by_layer"]
    assert list(layers) == ["A1", "A2", "A3"]


def test_global_m_names_the_line_the_doctor_did_not_run(tmp_path):
    d = check_code(plant(K, "global_m_from_data", tmp_path), steps=0)
    f = d.findings[0]
    assert f.evidence["global"] == "m" and f.evidence["function"] == "backward_prop"
    assert "m, n = data.shape" in f.message and "m = X.shape[1]" in f.message


def test_cost_is_explained_with_its_values(tmp_path):
    d = check_code(HERE / "course_dict.py")
    assert d.cost["formula"].startswith("J = -1/m") and "np.log(A3)" in d.cost["numpy"]
    assert d.cost["yours"] == pytest.approx(d.cost["before"])
    assert "J = " in str(d)
    f = check_code(plant(C, "cost_without_1_over_m", tmp_path), steps=0).findings[0]
    assert "without dividing by m" in f.message
    f = check_code(plant(D, "binary_cross_entropy_cost", tmp_path), steps=0).findings[0]
    assert "binary cross-entropy" in f.message


# --- other ways in: a notebook file, the notebook's namespace, the functions themselves ---------
def notebook(cells, path):
    nb = {"cells": [{"cell_type": "code", "source": c, "metadata": {}, "outputs": [],
                     "execution_count": None} for c in cells],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


def kaggle_cells(extra=""):
    head, rest = (HERE / "kaggle_style.py").read_text().split("\ndef init_params")
    imports, data = head.split("\ndata = pd", 1)
    return ["%matplotlib inline\n" + imports, "!ls /kaggle/input\ndata = pd" + data + extra,
            "def init_params" + rest]


def test_a_notebook_with_magics_is_read_cell_by_cell(tmp_path):
    d = check_code(notebook(kaggle_cells(), tmp_path / "nb.ipynb"))
    assert d.findings == [], str(d)


def test_a_cell_that_is_not_python_is_named_by_cell_and_line(tmp_path):
    cells = kaggle_cells()
    cells[2] = cells[2].replace("def backward_prop(Z1, A1, Z2, A2, W1, W2, X, Y):",
                                "def backward_prop(Z1, A1, Z2, A2, W1, W2, X, Y)")
    d = check_code(notebook(cells, tmp_path / "nb.ipynb"))
    assert d.ids == ["syntax_error"]
    assert d.findings[0].evidence["where"].startswith("cell 3, line ")
    assert "def backward_prop(Z1, A1, Z2, A2, W1, W2, X, Y)" in d.findings[0].message


def test_syntax_error_in_a_py_file(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("import numpy as np\n\ndef forward_prop(W1, X):\n    return W1 @ X +\n")
    d = check_code(path)
    assert d.ids == ["syntax_error"] and d.findings[0].evidence["where"] == "line 4"
    assert "return W1 @ X +" in d.findings[0].message


@pytest.mark.slow
def test_functions_and_namespace_from_python(tmp_path, monkeypatch):
    (tmp_path / "learner_mod.py").write_text((HERE / "course_dict.py").read_text())
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("learner_mod")
    try:
        d = check_code(forward=mod.forward_propagation, backward=mod.backward_propagation,
                       init=mod.initialize_parameters, cost=mod.compute_cost)
        assert d.findings == [] and d.network["functions"]["cost"] == "compute_cost", str(d)
        assert check_code(vars(mod)).findings == []
        params = mod.initialize_parameters(784, 64, 32, 10)
        params["W2"] = np.zeros_like(params["W2"])
        d = check_code(forward=mod.forward_propagation, backward=mod.backward_propagation,
                       params=params, steps=0)
        assert d.ids == ["wrong_init"] and "W2 starts all 0" in d.findings[0].message
    finally:
        sys.modules.pop("learner_mod", None)


def test_functions_with_other_names_are_bound_by_hand(tmp_path):
    text = (HERE / "kaggle_style.py").read_text().replace("forward_prop", "go").replace(
        "backward_prop", "learn_from")
    path = tmp_path / "renamed.py"
    path.write_text(text)
    d = check_code(path, steps=0)
    assert d.ids == ["cannot_bind"]
    message = d.findings[0].message
    assert "forward_prop" in message and "--bind forward=NAME" in message and "go()" in message
    assert check_code(path, forward="go", backward="learn_from", steps=0).findings == []
    assert check_code(path, forward="nope", steps=0).ids == ["cannot_bind"]


# --- broken and hostile code never ends in a traceback -------------------------------------------
BASE = (HERE / "kaggle_style.py").read_text()


@pytest.mark.parametrize("name, text, fid, words", [
    ("empty", "", "cannot_bind", "no function that runs the forward pass"),
    ("forward_raises", BASE.replace("Z1 = W1.dot(X) + b1", "Z1 = W1.dot(X.T) + b1"),
     "code_error", "`Z1 = W1.dot(X.T) + b1`"),
    ("forward_returns_none", BASE.replace("    return Z1, A1, Z2, A2\n", "    pass\n"),
     "cannot_bind", "returns None"),
    ("backward_returns_a_number", BASE.replace("    return dW1, db1, dW2, db2\n",
                                               "    return 0.0\n"), "cannot_bind", "0.0"),
    ("unknown_argument", BASE.replace("def forward_prop(W1, b1, W2, b2, X):",
                                      "def forward_prop(W1, b1, W2, b2, X, keep_prob):"),
     "cannot_bind", "keep_prob"),
    ("weights_of_a_wrong_shape", BASE.replace("np.random.randn(64, 784)",
                                              "np.random.randn(64, 100)"),
     "cannot_bind", "(64, 100)"),
    ("exits", BASE.replace("    Z1 = W1.dot(X) + b1\n", "    exit(3)\n"), "code_error",
     "SystemExit"),
    ("asks_for_input", BASE.replace("    Z1 = W1.dot(X) + b1\n", "    input('go?')\n"),
     "code_error", "input()"),
    ("endless_recursion", BASE.replace("return np.maximum(Z, 0)", "return ReLU(Z)"),
     "code_error", "RecursionError"),
    ("missing_package", BASE.replace("return np.maximum(Z, 0)",
                                     "return pd.DataFrame(Z).clip(0).values"),
     "code_error", "pandas, which is not installed here"),
    ("nan_weights", BASE.replace("np.random.randn(64, 784) * np.sqrt(2 / 784)",
                                 "np.full((64, 784), np.nan)"), "wrong_init", "NaN"),
    ("zero_weights", BASE.replace("np.random.randn(64, 784) * np.sqrt(2 / 784)",
                                  "np.zeros((64, 784))"), "wrong_init", "symmetry"),
    ("update_returns_nothing", BASE.replace("    return W1, b1, W2, b2\n\n\ndef get_pred",
                                            "\n\ndef get_pred"),
     "wrong_update", "return W1, b1, W2, b2"),
    ("update_climbs", BASE.replace("W1 = W1 - alpha * dW1", "W1 = W1 + alpha * dW1"),
     "wrong_update", "climbs the cost"),
    ("update_forgets_a_bias", BASE.replace("b1 = b1 - alpha * db1", "b1 = b1"),
     "wrong_update", "leaves b1 unchanged"),
])
def test_broken_code_gets_one_clear_finding(tmp_path, name, text, fid, words):
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    d = check_code(path, steps=20)
    check_format(d)
    assert d.ids[0] == fid, str(d)
    assert words in d.findings[0].message, str(d)


@pytest.mark.slow
def test_endless_loops_and_slow_constants_are_cut_short(tmp_path, monkeypatch):
    from digitnet.doctor.code import binding, source

    monkeypatch.setattr(binding, "CALL_SECONDS", 0.5)
    monkeypatch.setattr(source, "STATEMENT_SECONDS", 0.5)
    path = tmp_path / "loop.py"
    path.write_text("big = 7 ** 10 ** 8\n"
                    + BASE.replace("    Z1 = W1.dot(X) + b1\n", "    while True:\n        pass\n"))
    d = check_code(path, steps=0)
    assert d.ids == ["code_error"] and "endless loop" in d.findings[0].message


def test_unreadable_files_are_one_line_errors(tmp_path, capsys):
    garbage = tmp_path / "garbage.py"
    garbage.write_bytes(bytes(range(256)))
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    for path in (garbage, broken, tmp_path / "missing.py"):
        assert main(["doctor", "--code", str(path)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("digitnet: error: ") and err.count("\n") == 1
        assert "Traceback" not in err


# --- the command line ----------------------------------------------------------------------------
def test_cli_text_json_and_exit_status(tmp_path, capsys):
    assert main(["doctor", "--code", str(HERE / "kaggle_style.py"), "--steps", "50"]) == 0
    out = capsys.readouterr().out
    assert "forward_prop()" in out and "no findings" in out and "J = " in out
    path = plant(K, "db_wrong_axis", tmp_path)
    assert main(["doctor", "--code", str(path), "--steps", "0", "--json"]) == 1
    data = last_json(capsys.readouterr().out)
    assert data["findings"][0]["id"] == "wrong_gradient"
    assert data["findings"][0]["evidence"]["array"] == "db1"
    assert data["cost"]["formula"] and data["network"]["sizes"] == [784, 64, 10]


def test_cli_bind_option(tmp_path, capsys):
    text = (HERE / "kaggle_style.py").read_text().replace("forward_prop", "go")
    path = tmp_path / "renamed.py"
    path.write_text(text)
    assert main(["doctor", "--code", str(path), "--bind", "forward=go", "--steps", "0"]) == 0
    assert main(["doctor", "--code", str(path), "--bind", "forwards=go"]) == 1
    assert "--bind forwards=go: write ROLE=FUNCTION" in capsys.readouterr().err
    assert main(["doctor", "--bind", "forward=go"]) == 1
    assert "use it with --code" in capsys.readouterr().err


def test_the_learner_network_is_measured_like_a_digitnet_one():
    """The doctor's measurements of their code come from a digitnet Network with their
    weights: check that this network computes exactly their forward pass."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("rows_mod", HERE / "rows_layout.py")
    src = (HERE / "rows_layout.py").read_text().replace('X_train = np.load("mnist_x.npy")'
                                                         '.reshape(-1, 784) / 255.0', "")
    ns: dict = {}
    exec(compile(src, str(spec.origin), "exec"), ns)
    np.random.seed(0)
    W1, b1, W2, b2 = ns["init_params"]()
    x = dn.load_dataset("sample").x_test[:50].astype(np.float64)
    _, _, _, A2 = ns["forward"](x, W1, b1, W2, b2)
    net = dn.Network([dn.Dense(784, 48), dn.Tanh(), dn.Dense(48, 10)], seed=None,
                     dtype=np.float64)
    net.layers[0].params.update(W=W1, b=b1.ravel())
    net.layers[2].params.update(W=W2, b=b2.ravel())
    np.testing.assert_allclose(net.predict_proba(x), A2, rtol=1e-10)


@pytest.mark.parametrize("acts", [["ReLU", "ReLU"], ["tanh", "sigmoid"], ["leaky ReLU", "ReLU"]])
def test_the_reference_gradients_are_digitnets_own(acts):
    """What a learner's gradients are compared with (doctor/code/formulas.py, in columns) is
    exactly what digitnet's layers compute (in rows) on the same weights."""
    from digitnet.doctor.code.formulas import ACTIVATIONS, softmax, true_gradients
    from digitnet.doctor.code.training import to_network

    rng = np.random.default_rng(0)
    sizes, m = [784, 16, 12, 10], 9
    Ws = [rng.standard_normal((n, k)) * 0.2 for k, n in zip(sizes, sizes[1:], strict=False)]
    bs = [rng.standard_normal((n, 1)) * 0.1 for n in sizes[1:]]
    X, y = rng.random((784, m)), rng.integers(0, 10, m)
    A, Z = [X], []
    for l, (W, b) in enumerate(zip(Ws, bs, strict=True)):
        Z.append(W @ A[-1] + b)
        A.append(softmax(Z[-1]) if l == 2 else ACTIVATIONS[acts[l]][0](Z[-1]))
    tg = true_gradients(A, Z, acts, Ws, y)
    net = to_network((Ws, bs), acts)
    net.train_step(X.T, y)
    dense = [layer for layer in net.layers if "W" in layer.params]
    for l, layer in enumerate(dense):
        np.testing.assert_allclose(tg.dW[l], layer.grads["W"].T, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(tg.db[l][:, 0], layer.grads["b"], rtol=1e-10, atol=1e-14)
