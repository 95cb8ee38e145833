"""`digitnet gradcheck`, and the public gradcheck catching a learner's broken layer."""

import json

import numpy as np

import digitnet as dn
from digitnet.cli import main


class MyDense(dn.Layer):
    """A learner's dense layer with a bug in db: the mean over the batch instead of the sum
    (the loss already divides by N, so dividing again makes db N times too small)."""

    def __init__(self, n_in, n_out, bug=True):
        super().__init__()
        self.n_in, self.bug = n_in, bug
        rng = np.random.default_rng(0)
        self.params = {"W": rng.standard_normal((n_in, n_out)) * 0.1, "b": np.zeros(n_out)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, X, training=False):
        self.X = X
        return X @ self.params["W"] + self.params["b"]

    def backward(self, dZ):
        self.grads["W"] = self.X.T @ dZ
        self.grads["b"] = dZ.mean(axis=0) if self.bug else dZ.sum(axis=0)
        return dZ @ self.params["W"].T


def verdicts(result):
    return {name: err < result.threshold for name, _, err, _ in result.rows}


def test_gradcheck_catches_a_broken_layer():
    result = dn.gradcheck(MyDense(6, 3))
    assert not result.ok
    assert verdicts(result) == {"W": True, "b": False, "input (dX)": True}
    assert "WRONG" in str(result) and "FAILED" in str(result)
    assert dn.gradcheck(MyDense(6, 3, bug=False)).ok


def test_gradcheck_catches_a_broken_layer_inside_a_network():
    net = dn.Network([MyDense(784, 16), dn.ReLU(), dn.Dense(16, 10)])
    result = dn.gradcheck(net)
    assert verdicts(result) == {"0.W": True, "0.b": False, "2.W": True, "2.b": True}


def test_cli_gradcheck_passes_on_the_built_in_layers(capsys):
    assert main(["gradcheck", "--model", "784-16-10"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("gradcheck: 784-16-10")
    for name in ("0.W", "0.b", "2.W", "2.b"):
        assert f"\n{name} " in out
    assert "passed" in out
    assert main(["gradcheck", "--model", "784-8-8-10", "--activation", "tanh", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["ok"] and len(result["rows"]) == 6
    assert result["max_error"] < result["threshold"] == 1e-6


def test_cli_gradcheck_of_a_model_file(capsys, tmp_path):
    dn.save_model(dn.build_network("784-8-10"), tmp_path / "m.npz")
    assert main(["gradcheck", "--model", str(tmp_path / "m.npz"), "--batch", "2"]) == 0
    assert "2 random inputs" in capsys.readouterr().out


def test_cli_gradcheck_fails_with_status_1_on_a_wrong_backward(capsys, monkeypatch):
    def backward_without_the_transpose(self, dZ):
        self.grads["W"][...] = (dZ.T @ self.X).T * 2  # twice the right dW
        self.grads["b"][...] = dZ.sum(axis=0)
        return dZ @ self.params["W"].T

    monkeypatch.setattr(dn.Dense, "backward", backward_without_the_transpose)
    assert main(["gradcheck", "--model", "784-8-10"]) == 1
    out = capsys.readouterr().out
    assert "WRONG" in out and "FAILED" in out


def test_cli_gradcheck_bad_options_are_one_line_errors(capsys):
    assert main(["gradcheck", "--model", "784-abc-10"]) == 1
    assert main(["gradcheck", "--batch", "0"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("digitnet: error:") for line in err)
