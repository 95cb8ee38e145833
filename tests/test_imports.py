"""Imports go one way, down the data path: source -> arrays -> network -> trainer -> model file ->
uses. Checked on the source itself: every import of every module, those inside functions too
(a lazy import that goes up is still a cycle), but not those under ``if TYPE_CHECKING:``."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "digitnet"

#: the data path, bottom first: a module may import modules of its own rank or below
RANKS = [
    ["errors", "extras", "files", "version", "threads", "limits", "heap"],
    ["data"],
    ["nn"],
    ["optim", "augment", "parallel"],
    ["train", "recipes", "trace", "metrics", "onevsrest"],
    ["gradcheck", "modelcheck", "modelfile"],
    ["judge", "doctor", "plots", "report", "read", "web", "onnx_export", "cli", "sklearn",
     "sweeps"],
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package(name: str) -> bool:
    return (SRC / name.replace(".", "/") / "__init__.py").exists()


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str, path: Path) -> set[str]:
    """The digitnet modules ``name`` imports (absolute names), anywhere but under
    ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text())
    here = name if is_package(name) else name.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("digitnet"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("digitnet"):
                for a in node.names:  # `from . import plots` imports a module
                    sub = f"{target}.{a.name}"
                    found.add(sub if sub in mods else target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    mods = modules()
    visit(tree)
    found.discard(name)
    return {m for m in found if m in mods}


def graph() -> dict[str, set[str]]:
    return {name: imports_of(name, path) for name, path in modules().items()}


def rank(name: str) -> int | None:
    parts = name.split(".")
    if len(parts) < 2:
        return None  # the package itself: the public API, above everything
    for r, names in enumerate(RANKS):
        if parts[1] in names:
            return r
    raise AssertionError(f"{name}: add its top-level name to RANKS in tests/test_imports.py")


def test_every_module_has_a_place_on_the_data_path():
    for name in modules():
        rank(name)


def test_no_import_cycle():
    g = graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def dfs(n: str) -> None:
        state[n] = 1
        path.append(n)
        for m in sorted(g[n]):
            if state.get(m) == 1:
                cycle = path[path.index(m):] + [m]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if m not in state:
                dfs(m)
        path.pop()
        state[n] = 2

    for n in sorted(g):
        if n not in state:
            dfs(n)


#: the calls up the data path, each a one-line convenience for notebooks whose module is
#: imported inside the method (the module called does not import the caller back: no cycle)
UPWARD = {
    ("digitnet.train", "digitnet.plots"): "History.plot(): plots.loss_curves(history)",
    ("digitnet.nn.network", "digitnet.trace"): "Network.trace(): trace.trace_step(net, ...)",
}


def test_imports_only_go_down_the_data_path():
    upward = []
    for name, targets in graph().items():
        r = rank(name)
        if r is None:
            continue
        upward += [f"{name} (rank {r}) imports {t} (rank {rank(t)})" for t in targets
                   if rank(t) is not None and rank(t) > r and (name, t) not in UPWARD]
    assert not upward, "\n".join(upward)


def test_the_exceptions_are_real_and_do_not_cycle_back():
    g = graph()
    for (caller, callee), why in UPWARD.items():
        assert callee in g[caller], f"{caller} no longer imports {callee}: drop it from UPWARD"
        assert caller not in g[callee], f"{callee} imports {caller} back ({why})"


def test_the_graph_sees_imports_inside_functions_and_not_type_hints(tmp_path):
    mod = PACKAGE / "_probe_of_the_import_test.py"
    mod.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                   "    from .cli import main\n\ndef f():\n    from . import plots\n")
    try:
        assert imports_of("digitnet._probe_of_the_import_test", mod) == {"digitnet.plots"}
    finally:
        mod.unlink()
