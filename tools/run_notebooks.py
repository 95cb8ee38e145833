"""Execute the tutorial notebooks (examples/*.ipynb) and check their outputs.

    python tools/run_notebooks.py                  # run every notebook; fail on any problem
    python tools/run_notebooks.py --write          # ... and save them with their outputs
    python tools/run_notebooks.py examples/01_*.ipynb

Each notebook runs top to bottom in a fresh kernel of this Python (``sys.executable -m
ipykernel_launcher``: no installed kernelspec needed), in an empty temporary folder, so the files
it writes do not land in the repository. A notebook fails on an error in any cell, and on
outputs a reader should never see: tqdm's "IProgress not found" warning, or a figure shown only
as ``<Figure size ...>`` text instead of an image. tests/test_notebooks.py runs the same checks.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TIMEOUT = 300  # seconds per cell

#: text that must not appear in any output
FORBIDDEN = ("IProgress", "TqdmWarning")
FIGURE_AS_TEXT = re.compile(r"<\w*Figure size [\d.]+x[\d.]+ with \d+ Axes>")


class ThisPython(KernelSpecManager):
    """Every kernel name means this interpreter, so notebooks run in this virtual environment
    whatever kernelspecs are (or are not) installed."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f",
                                "{connection_file}"],
                          display_name=f"Python ({sys.executable})", language="python")


def notebooks() -> list[Path]:
    return sorted(EXAMPLES.glob("*.ipynb"))


def execute(path: Path) -> tuple[nbformat.NotebookNode, float]:
    """Run the notebook at ``path`` in a fresh kernel; return it with its outputs and the
    seconds it took. Raises nbclient's CellExecutionError when a cell fails."""
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="digitnet-nb-") as work:
        env = dict(os.environ, IPYTHONDIR=os.path.join(work, ".ipython"),
                   PYDEVD_DISABLE_FILE_VALIDATION="1")
        km = KernelManager(kernel_name="python3", kernel_spec_manager=ThisPython(),
                           transport="ipc", ip=os.path.join(work, "kernel"))
        client = NotebookClient(nb, km=km, timeout=TIMEOUT, record_timing=False,
                                coalesce_streams=True, resources={"metadata": {"path": work}})
        t0 = time.perf_counter()
        client.execute(env=env, cleanup_kc=True)  # shut the kernel down afterwards
        return nb, time.perf_counter() - t0


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """What is wrong with an executed notebook's outputs (empty when nothing is)."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            where = f"cell {i} ({cell.source.splitlines()[0][:40] if cell.source else ''})"
            if out.output_type == "error":
                found.append(f"{where}: {out.ename}: {out.evalue}")
            text = out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
            found += [f"{where}: output contains {s!r}" for s in FORBIDDEN if s in text]
            data = out.get("data", {})
            if FIGURE_AS_TEXT.search(text) and "image/png" not in data:
                found.append(f"{where}: a figure shown as text, not as an image: "
                             f"{FIGURE_AS_TEXT.search(text).group()}")
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="*", type=Path, help="notebooks (default: examples/*.ipynb)")
    p.add_argument("--write", action="store_true", help="save each notebook with its outputs")
    args = p.parse_args(argv)
    paths = args.paths or notebooks()
    failed, total = 0, 0.0
    for path in paths:
        nb, seconds = execute(path)
        total += seconds
        found = problems(nb)
        print(f"{path.name}: {seconds:.1f} s" + ("" if not found else f", {len(found)} problems"))
        for f in found:
            print(f"  {f}")
        failed += bool(found)
        if args.write and not found:
            nbformat.write(nb, path)
    print(f"{len(paths)} notebooks in {total:.1f} s" + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
