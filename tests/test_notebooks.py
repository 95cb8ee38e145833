"""The tutorial notebooks (examples/*.ipynb): each runs top to bottom in a fresh kernel of this
Python without errors, shows its figures as images and no progress-bar warnings, and is saved
with its outputs. The runner is tools/run_notebooks.py (`--write` re-saves the outputs)."""

import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "tools" / "run_notebooks.py")
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)

NOTEBOOKS = runner.notebooks()


def images(nb):
    return [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]


def test_the_tutorials_are_there():
    names = [p.name for p in NOTEBOOKS]
    assert "01_from_your_notebook_to_digitnet.ipynb" in names
    assert "03_cnn_and_your_handwriting.ipynb" in names


def test_the_check_finds_warnings_errors_and_figures_shown_as_text():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("h = dn.train(net, ds)")])
    nb.cells[0].outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="TqdmWarning: IProgress not found"),
        nbformat.v4.new_output("execute_result", {"text/plain": "<Figure size 1260x340 with 3 "
                                                                "Axes>"}, execution_count=1),
        nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[]),
    ]
    found = runner.problems(nb)
    assert len(found) == 4 and all(f.startswith("cell 0 (h = dn.train") for f in found)
    assert any("not as an image" in f for f in found) and any("boom" in f for f in found)
    nb.cells[0].outputs = [nbformat.v4.new_output(
        "execute_result", {"text/plain": "<Figure size 1260x340 with 3 Axes>",
                           "image/png": "iVBORw0KGgo="}, execution_count=1)]
    assert runner.problems(nb) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_saved_with_its_outputs(path):
    nb = nbformat.read(path, as_version=4)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), \
        f"run `python tools/run_notebooks.py --write {path.relative_to(ROOT)}` and commit it"
    assert images(nb) and runner.problems(nb) == []


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_shows_figures_as_images(path):
    nb, seconds = runner.execute(path)  # raises on an error in any cell
    assert runner.problems(nb) == []
    assert len(images(nb)) == len(images(nbformat.read(path, as_version=4)))
    print(f"{path.name}: {seconds:.1f} s")


@pytest.mark.slow
def test_notebooks_run_on_this_python(tmp_path):
    """The kernel is this interpreter (this virtual environment), whatever kernelspecs exist."""
    path = tmp_path / "which.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import sys, os; print(sys.executable); print(os.getcwd())")]), path)
    nb, _ = runner.execute(path)
    executable, cwd = nb.cells[0].outputs[0].text.split()
    assert executable == sys.executable
    assert Path(cwd).name.startswith("digitnet-nb-")  # a temporary folder, not the repository
