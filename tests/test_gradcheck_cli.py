"""`digitnet gradcheck`, and the public gradcheck catching a learner's broken layer."""


from helpers import MyDense, last_json

import digitnet as dn
from digitnet.cli import main


def verdicts(result):
    return {name: err < result.threshold for name, _, err, _ in result.rows}


def test_gradcheck_catches_a_broken_layer():
    result = dn.gradcheck(MyDense(6, 3, bug=True))
    assert not result.ok
    assert verdicts(result) == {"W": True, "b": False, "input (dX)": True}
    assert "WRONG" in str(result) and "FAILED" in str(result)
    assert dn.gradcheck(MyDense(6, 3, bug=False)).ok


def test_gradcheck_catches_a_broken_layer_inside_a_network():
    net = dn.Network([MyDense(784, 16, bug=True), dn.ReLU(), dn.Dense(16, 10)])
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
    result = last_json(capsys.readouterr().out)
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
