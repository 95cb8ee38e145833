"""Reading a learner's code: a ``.py`` file, a Jupyter ``.ipynb`` notebook, or the namespace of a
running notebook (``globals()``), and keeping only what defines their network.

Only imports, function and class definitions and constants (``m_train = 41000``,
``layers_dims = [784, 64, 10]``) are run; every other top-level statement (reading their data,
the training loop, plots) is left out, and remembered with its line so that a finding can say
"``m`` comes from line 9, ``m, n = data.shape``, which the doctor does not run". An import that
fails (a package not installed here) binds a placeholder that says so when it is used.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import inspect
import io
import json
import linecache
import re
import textwrap
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import DataError
from .timing import time_limit

#: longest a top-level statement of the learner's code may take (``2 ** 10 ** 10``)
STATEMENT_SECONDS = 10

#: what a learner's code that scales its pixels to [0, 1] looks like: x / 255, x / 255.0,
#: x * (1 / 255), x /= 255, x / x.max(), MinMaxScaler
SCALING = re.compile(r"/=?\s*\(?\s*255(\.0*)?\b|\*\s*\(?\s*1(\.0*)?\s*/\s*255|/\s*\w*\.?max\(|"
                     r"MinMaxScaler|load_dataset\(")
#: what reading data looks like (if a file reads data and never scales it, its pixels are raw)
READS_DATA = re.compile(r"read_csv|loadtxt|genfromtxt|np\.load\(|load_data|fetch_openml|"
                        r"open\(|idx|mnist|keras|torchvision|h5py", re.IGNORECASE)


@dataclass
class Statement:
    """A top-level statement of the learner's code that the doctor did not run."""

    where: str       # "line 9" or "cell 3, line 2"
    text: str        # its first line
    names: list[str]  # the names it assigns


@dataclass
class LearnerSource:
    """A learner's code, loaded: its namespace (functions, constants, imports) and what is known
    about the rest."""

    origin: str
    namespace: dict[str, Any]
    #: function name -> its parsed definition (for the names in its return statements)
    defs: dict[str, ast.FunctionDef] = field(default_factory=dict)
    #: top-level statements left out, in order
    skipped: list[Statement] = field(default_factory=list)
    #: the calls the skipped code makes, by function name: [(positional args, keyword args)]
    calls: dict[str, list[tuple[list[ast.expr], dict[str, ast.expr]]]] = field(
        default_factory=dict)
    #: True: the code divides its pixels by 255; False: it reads data and never scales it;
    #: None: unknown (no data reading in sight)
    scales_pixels: bool | None = None
    #: names whose import failed here: name -> module
    missing_imports: dict[str, str] = field(default_factory=dict)
    #: the module the learner's functions were defined in ("__main__" in a notebook)
    module: str = "__learner__"
    #: file name their code was compiled under -> how a place in it is named ("cell 3, ")
    files: dict[str, str] = field(default_factory=dict)
    #: function name -> the file name it was compiled under
    def_file: dict[str, str] = field(default_factory=dict)

    def place(self, filename: str, lineno: int) -> str | None:
        """"cell 3, line 12: `Z1 = W1 @ X + b1`" for a line of the learner's code, or None when
        the file is not theirs."""
        if filename not in self.files:
            return None
        text = linecache.getline(filename, lineno).strip()
        return f"{self.files[filename]}line {lineno}" + (f": `{text}`" if text else "")

    def is_own(self, name: str, fn: Any) -> bool:
        """Whether ``fn`` is one of the learner's functions (not one imported from a library)."""
        return inspect.isfunction(fn) and not name.startswith("_") and (
            name in self.defs or getattr(fn, "__module__", None) in (
                self.module, "__main__", "__learner__", None))

    def where_assigned(self, name: str) -> Statement | None:
        """The skipped statement that last assigns ``name``, if any."""
        for s in reversed(self.skipped):
            if name in s.names:
                return s
        return None


class CodeSyntaxError(DataError):
    """The learner's code is not valid Python; ``where`` and ``text`` say where."""

    def __init__(self, message: str, where: str, text: str, detail: str) -> None:
        super().__init__(message)
        self.where, self.text, self.detail = where, text, detail


class Missing:
    """Stands for a module that could not be imported: using it raises a clear error."""

    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        raise ImportError(f"the code uses {self._module}, which is not installed here")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise ImportError(f"the code uses {self._module}, which is not installed here")


# --- reading -------------------------------------------------------------------------------------
def cells_of(path: Path) -> list[str]:
    """The code cells of a notebook file, or the whole file as one cell."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    if path.suffix.lower() != ".ipynb":
        return [text]
    try:
        nb = json.loads(text)
        cells = [c for c in nb["cells"] if c.get("cell_type") == "code"]
        return ["".join(c["source"]) if isinstance(c["source"], list) else str(c["source"])
                for c in cells]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise DataError(f"{path} is not a Jupyter notebook (.ipynb): its JSON has no list of "
                        "cells; save it from Jupyter again, or pass the code as a .py file"
                        ) from None


def _without_magics(cell: str) -> str:
    """IPython lines (%magic, !shell, ?help) and cell magics become blank lines, so that line
    numbers stay as the learner sees them."""
    lines = cell.split("\n")
    if lines and lines[0].lstrip().startswith("%%"):
        return "\n" * (len(lines) - 1)
    return "\n".join("" if line.lstrip().startswith(("%", "!", "?")) else line
                     for line in lines)


def parse_cells(cells: list[str], origin: str) -> list[tuple[str, ast.Module, list[str]]]:
    """Parse each cell; (label, tree, lines) per cell. Raises CodeSyntaxError at the first cell
    that is not valid Python."""
    out = []
    for i, cell in enumerate(cells):
        label = f"cell {i + 1}, " if len(cells) > 1 else ""
        code = _without_magics(cell)
        try:
            tree = ast.parse(code, filename=origin)
        except SyntaxError as e:
            line = e.lineno or 0
            text = (e.text or "").rstrip("\n") or (code.split("\n")[line - 1]
                                                   if 0 < line <= code.count("\n") + 1 else "")
            where = f"{label}line {line}"
            raise CodeSyntaxError(f"{origin}, {where}: {e.msg}: `{text.strip()}`", where,
                                  text.strip(), e.msg) from None
        out.append((label, tree, code.split("\n")))
    return out


# --- what to keep --------------------------------------------------------------------------------
def _is_constant(node: ast.expr, known: set[str]) -> bool:
    """A value that needs no data: literals, names of other constants, arithmetic, containers
    and calls of math helpers on those (``np.sqrt(2 / 784)``, ``int(1e3)``)."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id in known
    if isinstance(node, ast.BinOp):
        return _is_constant(node.left, known) and _is_constant(node.right, known)
    if isinstance(node, ast.UnaryOp):
        return _is_constant(node.operand, known)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return all(_is_constant(e, known) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is None or _is_constant(k, known) for k in node.keys) and all(
            _is_constant(v, known) for v in node.values)
    if isinstance(node, ast.Attribute):  # np.pi, math.e
        return isinstance(node.value, ast.Name) and node.value.id in known
    if isinstance(node, ast.Call):
        f = node.func
        pure = (isinstance(f, ast.Name) and f.id in {"int", "float", "len", "list", "tuple",
                                                     "range", "abs", "round", "min", "max"}) or (
            isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
            and f.value.id in known and f.attr in {"sqrt", "log", "exp", "power", "float32",
                                                   "float64", "int64", "prod"})
        return pure and all(_is_constant(a, known) for a in node.args) and all(
            _is_constant(k.value, known) for k in node.keywords)
    return False


def _assigned(stmt: ast.stmt) -> list[str]:
    names: list[str] = []
    targets = (stmt.targets if isinstance(stmt, ast.Assign) else
               [stmt.target] if isinstance(stmt, ast.AnnAssign | ast.AugAssign | ast.For) else [])
    for t in targets:
        names += [n.id for n in ast.walk(t) if isinstance(n, ast.Name)]
    if isinstance(stmt, ast.If | ast.For | ast.While | ast.With | ast.Try):
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.stmt):
                names += _assigned(child)
    return names


def _calls(stmt: ast.stmt, into: dict[str, list[tuple[list[ast.expr], dict[str, ast.expr]]]]
           ) -> None:
    for node in ast.walk(stmt):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            into.setdefault(node.func.id, []).append(
                (list(node.args), {k.arg: k.value for k in node.keywords if k.arg}))


def load_file(path: str | Path) -> LearnerSource:
    """Load a learner's ``.py`` or ``.ipynb`` file: run its imports, definitions and constants."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path} (give the .py or .ipynb file with your network)")
    cells = cells_of(path)
    parsed = parse_cells(cells, path.name)
    src = LearnerSource(origin=path.name, namespace=_fresh_namespace(path.name))
    code_only = "\n".join(_without_magics(c) for c in cells)
    _run_kept(src, parsed, str(path.resolve()))
    _note_scaling(src, code_only)
    return src


def _fresh_namespace(origin: str) -> dict[str, Any]:
    return {"__name__": "__learner__", "__file__": origin, "__builtins__": builtins,
            "input": _no_input}


def _no_input(*args: Any) -> str:
    raise RuntimeError("the doctor runs your functions without a keyboard: input() is not "
                       "available")


def _run_kept(src: LearnerSource, parsed: list[tuple[str, ast.Module, list[str]]],
              filename: str) -> None:
    ns, known = src.namespace, set()
    for label, tree, lines in parsed:
        # each cell its own file name, its text in linecache: tracebacks show their lines
        cell_file = f"{filename} [{label.rstrip(', ')}]" if label else filename
        linecache.cache[cell_file] = (len("\n".join(lines)), None,
                                      [line + "\n" for line in lines], cell_file)
        src.files[cell_file] = label
        for stmt in tree.body:
            where = f"{label}line {stmt.lineno}"
            text = lines[stmt.lineno - 1].strip() if stmt.lineno <= len(lines) else ""
            keep = isinstance(stmt, ast.Import | ast.ImportFrom | ast.FunctionDef
                              | ast.ClassDef | ast.AsyncFunctionDef) or (
                isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None
                and _is_constant(stmt.value, known | set(ns)))
            if not keep:
                src.skipped.append(Statement(where, text, _assigned(stmt)))
                _calls(stmt, src.calls)
                continue
            try:
                with time_limit(STATEMENT_SECONDS), contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(ast.Module([stmt], []), cell_file, "exec"), ns)  # noqa: S102
            except (Exception, SystemExit) as e:  # their code: anything can fail, nothing is fatal
                if isinstance(stmt, ast.Import | ast.ImportFrom):
                    for alias in stmt.names:
                        bound = alias.asname or alias.name.split(".")[0]
                        module = getattr(stmt, "module", None) or alias.name
                        ns[bound] = Missing(module)
                        src.missing_imports[bound] = module
                else:
                    src.skipped.append(Statement(where, text, _assigned(stmt)))
                    src.skipped[-1].text += f"   ({type(e).__name__}: {e})"
                continue
            if isinstance(stmt, ast.FunctionDef):
                src.defs[stmt.name] = stmt
                src.def_file[stmt.name] = cell_file
                _calls(stmt, src.calls)
            known |= set(_assigned(stmt))


def _note_scaling(src: LearnerSource, code: str) -> None:
    if SCALING.search(code):
        src.scales_pixels = True
    elif READS_DATA.search(code):
        src.scales_pixels = False


def from_namespace(namespace: Mapping[str, Any], origin: str = "your notebook",
                   module: str | None = None) -> LearnerSource:
    """The functions and constants of a running notebook (pass ``globals()``), or of the module
    ``module`` the given functions come from."""
    src = LearnerSource(origin=origin, namespace=dict(namespace),
                        module=module or str(namespace.get("__name__", "__main__")))
    for name, value in namespace.items():
        if isinstance(value, types.FunctionType) and src.is_own(name, value):
            tree = function_tree(value)
            if tree is not None:
                src.defs[name] = tree
                src.def_file[name] = value.__code__.co_filename
                src.files[value.__code__.co_filename] = ""
                _calls(tree, src.calls)
    history = namespace.get("In")  # IPython keeps every cell run so far in In
    code = "\n".join(h for h in history if isinstance(h, str)) if isinstance(history, list) else ""
    for f in src.defs.values():
        code += "\n" + ast.unparse(f)
    _note_scaling(src, code)
    return src


def function_tree(fn: Callable[..., Any]) -> ast.FunctionDef | None:
    """The parsed definition of a Python function, or None when its source is unavailable."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef):
        return None
    ast.increment_lineno(node, fn.__code__.co_firstlineno - node.lineno)  # lines as in its file
    return node


# --- facts about one function ---------------------------------------------------------------------
def return_names(tree: ast.FunctionDef | None) -> list[str | None] | None:
    """The names in the function's last ``return a, b, c`` (None for an element that is not a
    plain name); None when it returns one value that is not a tuple."""
    if tree is None:
        return None
    returns = [n for n in ast.walk(tree) if isinstance(n, ast.Return) and n.value is not None]
    if not returns:
        return None
    value = returns[-1].value
    if isinstance(value, ast.Tuple | ast.List):
        return [e.id if isinstance(e, ast.Name) else None for e in value.elts]
    if isinstance(value, ast.Name):
        tup = tuple_assigned(tree, value.id)
        return tup
    return None


def tuple_assigned(tree: ast.FunctionDef, name: str) -> list[str | None] | None:
    """Names of the tuple last assigned to ``name`` in the function (``cache = (Z1, A1)``)."""
    found = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets) and isinstance(
                node.value, ast.Tuple | ast.List):
            found = [e.id if isinstance(e, ast.Name) else None for e in node.value.elts]
    return found


def free_globals(tree: ast.FunctionDef) -> set[str]:
    """Names the function reads but neither takes as an argument nor assigns itself."""
    args = {a.arg for a in tree.args.args + tree.args.kwonlyargs + tree.args.posonlyargs}
    if tree.args.vararg:
        args.add(tree.args.vararg.arg)
    if tree.args.kwarg:
        args.add(tree.args.kwarg.arg)
    stored, loaded = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (stored if isinstance(node.ctx, ast.Store | ast.Del) else loaded).add(node.id)
        elif isinstance(node, ast.arg):
            stored.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.Lambda) and node is not tree:
            pass
    return loaded - stored - args - set(dir(builtins))


def divides_by(tree: ast.FunctionDef, name: str) -> bool:
    """Whether the function divides by ``name`` (``1 / m * ...``, ``... / m``), directly or
    through a local copy of it (``m = m_train`` ... ``/ m``)."""
    names = {name} | {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign)
                      and isinstance(n.value, ast.Name) and n.value.id == name
                      for t in n.targets if isinstance(t, ast.Name)}
    return any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div)
               and isinstance(n.right, ast.Name) and n.right.id in names
               for n in ast.walk(tree))


def calls_in(tree: ast.FunctionDef) -> set[str]:
    """Names of the functions it calls directly (``one_hot(Y)`` -> "one_hot")."""
    return {n.func.id for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
