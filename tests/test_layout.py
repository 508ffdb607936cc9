"""The house: the import graph of src/ has no circle and no module imports its own
package's ``__init__``; the README's layout tree names exactly the modules there are.

Every import counts, lazy ones inside functions included (an ``ast`` walk, no import)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = "sweeplab"


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module under src/sweeplab."""
    out = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The sweeplab modules that ``name`` imports, anywhere in its file. ``from P import x``
    counts as importing ``P.x`` when that is a module, else ``P`` (x is a name in P)."""
    pkg = name if _is_package(name, modules) else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                up = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            if base.split(".")[0] != PACKAGE:
                continue
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.add(sub if sub in modules else base)
    return {m for m in out if m in modules and m != name}


def _graph() -> dict[str, set[str]]:
    """Module -> the modules it imports."""
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        path.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_the_walk_sees_lazy_and_relative_imports(tmp_path):
    """The checker itself: a lazy import inside a function and a package importing back
    make a circle it finds (a checker that finds nothing would pass anything)."""
    graph = _graph()
    assert "sweeplab.readout" in graph["sweeplab.api"]  # a module-level import
    assert "sweeplab.report" in graph["sweeplab.api"]  # lazy, inside Results.report
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_import_graph_has_no_circle():
    graph = _graph()
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_no_module_imports_its_own_packages_init():
    graph = _graph()
    modules = _modules()
    back = []
    for name, deps in graph.items():
        packages = [p for p in (name.rpartition(".")[0],) if p]
        if _is_package(name, modules):
            packages = []  # a package's __init__ may import its own modules
        back += [f"{name} imports {p}" for p in packages if p in deps]
    assert back == []


def _readme_tree() -> dict[str, str]:
    """Dotted module name -> its job, from the README's layout tree."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Layout\n", 1)[1]
    tree = section.split("```\n", 2)[1]
    out, stack = {}, []
    for line in tree.splitlines()[1:]:  # the first line is src/sweeplab/
        m = re.match(r"^( +)(\S+)\s*(.*)$", line)
        assert m, f"not a tree line: {line!r}"
        depth = len(m.group(1)) // 2 - 1
        entry, job = m.group(2), m.group(3).strip()
        stack[depth:] = [entry.rstrip("/")]
        if entry.endswith("/"):
            continue
        parts = [PACKAGE, *stack[:depth], entry.removesuffix(".py")]
        if parts[-1] == "__init__":
            parts.pop()
        assert job, f"{entry}: no job said"
        out[".".join(parts)] = job
    return out


def test_the_readme_layout_names_every_module_and_no_other():
    tree, modules = _readme_tree(), _modules()
    assert sorted(set(modules) - set(tree)) == [], "modules missing from the README tree"
    assert sorted(set(tree) - set(modules)) == [], "README tree lines without a module"


# What summarises stored numbers over seeds; only the view (readout) calls it on stored runs.
_SUMMARISERS = {"summarize", "summarize_curves", "std", "stdev", "pstdev", "variance",
                "average_confusion"}
# analysis/ holds the statistics themselves (given values, they know no store); plots are
# given the view's summaries and curves (so a plot and the report's table agree).
_MAY_SUMMARISE = ("sweeplab.readout", "sweeplab.analysis")


def _summarising_calls(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in _SUMMARISERS:
                out.append(f"{path.name}:{node.lineno} calls {name}")
    return out


def test_only_the_view_summarises_stored_runs():
    """A config's summary, curve, confusion and explanation are the readout view's (once,
    memoised): a second place computing them is a place where two views can disagree."""
    calls = [f"{name}: {c}" for name, path in _modules().items()
             if not name.startswith(_MAY_SUMMARISE) for c in _summarising_calls(path)]
    assert calls == []


def test_the_summariser_check_sees_a_call(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("import numpy as np\nfrom sweeplab.analysis import stats\n"
                 "def f(v):\n    return stats.summarize(v).std, np.std(v, ddof=1)\n"
                 "def g(runs):\n    return stats.average_confusion([r.confusion for r in runs])\n")
    assert sorted(_summarising_calls(f)) == ["x.py:4 calls std", "x.py:4 calls summarize",
                                             "x.py:6 calls average_confusion"]
