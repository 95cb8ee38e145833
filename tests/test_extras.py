"""The light core: `import digitnet` loads no optional package, and each part that needs an extra
says which one to install when its packages are missing.

A missing extra is simulated in a fresh Python process: a ``sitecustomize`` module on PYTHONPATH
puts a finder first on ``sys.meta_path`` that refuses the packages named in $DIGITNET_TEST_BLOCK,
as if they were not installed. (tools/check_core_install.sh checks a real core-only install.)
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from digitnet.cli import main
from digitnet.data import write_idx
from digitnet.extras import EXTRAS, MissingExtraError, missing

#: the top-level modules each extra installs (Flask brings werkzeug)
MODULES = {"images": ["PIL", "scipy"], "plots": ["matplotlib"],
           "web": ["flask", "werkzeug", "waitress"], "onnx": ["onnx"],
           "sklearn": ["sklearn"], "sweep": ["joblib"], "dask": ["dask", "distributed"]}
ALL = [m for mods in MODULES.values() for m in mods]

SITECUSTOMIZE = '''
import os
import sys

BLOCKED = set(filter(None, os.environ.get("DIGITNET_TEST_BLOCK", "").split(",")))


class Blocker:
    """Refuses to import the packages in BLOCKED, as if they were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Blocker())
'''


@pytest.fixture(scope="module")
def blocked_env(tmp_path_factory):
    """env for a subprocess; ``env(blocked)`` with the modules it cannot import."""
    site = tmp_path_factory.mktemp("site")
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)

    def env(blocked):
        e = dict(os.environ, DIGITNET_TEST_BLOCK=",".join(blocked))
        e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), e.get("PYTHONPATH")]))
        return e
    return env


def python(code, env, cwd=None):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def digitnet(env, cwd, *argv):
    """Run the `digitnet` command in a fresh process: (exit status, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-c", "import sys; from digitnet.cli import main; "
                           "sys.exit(main(sys.argv[1:]))", *map(str, argv)],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def test_import_digitnet_loads_no_optional_package():
    proc = subprocess.run([sys.executable, "-c", "import json, sys, digitnet; "
                           "print(json.dumps(sorted(sys.modules)))"],
                          capture_output=True, text=True, check=True)
    loaded = {m.partition(".")[0] for m in json.loads(proc.stdout)}
    assert not loaded & {*ALL, "pooch"}


def test_the_blocker_works(blocked_env):
    proc = python("import PIL", blocked_env(["PIL"]))
    assert proc.returncode == 1 and "No module named 'PIL'" in proc.stderr


def test_missing_extra_error_names_the_extra_and_is_an_import_error():
    try:
        import no_such_module_here  # noqa: F401
    except ImportError as e:
        err = missing("images", e)
    assert isinstance(err, MissingExtraError) and isinstance(err, ImportError)
    assert str(err) == ("reading image files needs Pillow and SciPy (cannot import "
                        "no_such_module_here): pip install 'digitnet[images]'")
    assert set(EXTRAS) == set(MODULES)


# --- in Python -------------------------------------------------------------------------------
PYTHON_USES = {
    "images": ["dn.prepare_image(np.zeros((28, 28)))", "dn.prepare_file('seven.png')",
               "dn.predict_files(net, ['seven.png'])", "dn.read_number(net, 'number.png')",
               "import digitnet.data.images", "import digitnet.data.synthetic",
               "import digitnet.read"],
    "plots": ["dn.plots", "dn.plots.loss_curves(dn.History())", "dn.History().plot()",
              "dn.write_report(net, np.zeros((4, 784)), np.zeros(4, int), 'report')"],
    "web": ["import digitnet.web.app"],
    "onnx": ["dn.export_onnx(net, 'model.onnx')", "import digitnet.onnx_export"],
    "sklearn": ["import digitnet.sklearn", "from digitnet.sklearn import DigitnetClassifier"],
    "sweep": ["dn.sweep({'model': ['784-10']}, dn.load_dataset('sample', train_size=100))"],
    "dask": ["dn.sweep({'model': ['784-10']}, dn.load_dataset('sample', train_size=100), "
             "scheduler='tcp://127.0.0.1:1')"],
}


@pytest.mark.slow
@pytest.mark.parametrize("extra", list(PYTHON_USES))
def test_python_uses_without_the_extra_say_which_to_install(blocked_env, tmp_path, extra):
    proc = python(f"""
        import json
        import numpy as np
        import digitnet as dn
        from digitnet.extras import MissingExtraError
        net = dn.build_network("784-10")
        out = {{}}
        for use in {PYTHON_USES[extra]!r}:
            try:
                exec(use)
                out[use] = "no error"
            except MissingExtraError as e:
                assert isinstance(e, dn.DigitnetError) and isinstance(e, ImportError)
                out[use] = str(e)
        print(json.dumps(out))
        """, blocked_env(MODULES[extra]), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for use, message in json.loads(proc.stdout).items():
        assert message.endswith(f"pip install 'digitnet[{extra}]'"), (use, message)


# --- on the command line ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory, sample):
    """A small model, the four IDX files and a Kaggle test CSV of 100 sample images."""
    d = tmp_path_factory.mktemp("core")
    assert main(["train", "--train-size", "1000", "--epochs", "1", "--model", "784-32-10", "-q",
                 "--out", str(d / "model.npz")]) == 0
    x = np.rint(sample.x_test[:100] * 255).astype(np.uint8)
    y = sample.y_test[:100].astype(np.uint8)
    (d / "idx").mkdir()
    for split in ("train", "t10k"):
        write_idx(d / "idx" / f"{split}-images-idx3-ubyte.gz", x.reshape(-1, 28, 28))
        write_idx(d / "idx" / f"{split}-labels-idx1-ubyte.gz", y)
    header = ",".join(f"pixel{i}" for i in range(784))
    (d / "test.csv").write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in x))
    (d / "seven.png").write_bytes(b"not read: the command stops before")
    return d


@pytest.mark.slow
@pytest.mark.parametrize("argv, extra", [
    (["predict", "model.npz", "seven.png"], "images"),
    (["read", "model.npz", "seven.png"], "images"),
    (["serve", "model.npz", "--port", "0"], "web"),
    (["export", "model.npz", "model.onnx"], "onnx"),
    (["report", "model.npz", "--out", "report"], "plots"),
    (["sweep", "--train-size", "100", "--model", "784-10", "--epochs", "1"], "sweep"),
    (["sweep", "--train-size", "100", "--model", "784-10", "--scheduler", "tcp://127.0.0.1:1"],
     "dask"),
    (["train", "--train-size", "500", "--epochs", "1", "--model", "784-16-10", "-q",
      "--report", "report", "--out", "trained.npz"], "plots"),
])
def test_commands_without_their_extra_say_which_to_install(blocked_env, files, argv, extra):
    code, _, err = digitnet(blocked_env(ALL), files, *argv)
    assert code == 1
    assert err.splitlines() == [err.strip()] and err.startswith("digitnet: error: ")
    assert err.strip().endswith(f"pip install 'digitnet[{extra}]'")
    assert not (files / "trained.npz").exists()  # train --report says so before training


@pytest.mark.slow
@pytest.mark.parametrize("argv", [
    ["train", "--train-size", "500", "--epochs", "1", "--model", "784-16-10", "-q",
     "--out", "core.npz"],
    ["train", "--data", "idx", "--epochs", "1", "--model", "784-16-10", "-q"],
    ["evaluate", "model.npz", "--data", "idx"],
    ["predict", "model.npz", "--data", "idx"],
    ["predict", "model.npz", "--data", "test.csv", "--submission", "submission.csv"],
    ["info"],
    ["doctor", "--model", "model.npz"],
    ["trace", "--model", "784-10-10", "--batch", "8"],
])
def test_the_core_commands_need_no_extra(blocked_env, files, argv):
    code, out, err = digitnet(blocked_env(ALL), files, *argv)
    assert "Traceback" not in err and "pip install" not in err
    assert code == 0 or (argv[0] == "doctor" and code == 1 and "finding" in out.lower()), err
