"""The package's layout: the torch core never imports an estimator, the import
graph has no cycle (docs/import_graph.py draws it), and no module, class or
benchmark suite regrows past its size."""

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: the estimators and the mixins each is made of
ESTIMATORS = {"__init__", "_density", "_density_base", "_density_levels", "_density_single",
              "_generator", "_generator_models"}


@pytest.fixture(scope="module")
def graph():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "docs/import_graph.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    modules = {p.stem for p in script.PACKAGE.glob("*.py")}
    return script, {m: script.imports(script.PACKAGE / f"{m}.py", modules) for m in modules}


def test_the_core_never_imports_an_estimator(graph):
    _, edges = graph
    assert {"_nets", "_loss", "_normalizer", "_train"} <= set(edges)  # the parse found them
    upward = {(m, d) for m, deps in edges.items() if m not in ESTIMATORS for d in deps & ESTIMATORS}
    assert not upward


def test_the_import_graph_has_no_cycle_and_a_cycle_is_caught(graph):
    script, edges = graph
    layer = script.layers(edges)
    assert all(layer[m] > layer[d] for m, deps in edges.items() for d in deps)
    with pytest.raises(ValueError, match="import cycle"):
        script.layers({"a": {"b"}, "b": {"a"}})


def _code_lines(tree, lines):
    """Per top-level class: its non-blank lines that are not docstrings."""
    docs = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.update(range(first.lineno, first.end_lineno + 1))
    code = {i for i, line in enumerate(lines, 1) if line.strip()} - docs
    return {
        node.name: len(code & set(range(node.lineno, node.end_lineno + 1)))
        for node in tree.body
        if isinstance(node, ast.ClassDef)
    }


def test_no_class_has_more_than_400_lines_of_code():
    sizes = {}
    for path in (ROOT / "skdde").glob("*.py"):
        text = path.read_text()
        for name, n in _code_lines(ast.parse(text), text.splitlines()).items():
            sizes[f"{path.stem}.{name}"] = n
    assert sizes["_density.DDEDensity"] > 100  # the count sees the estimators
    assert {k: n for k, n in sizes.items() if n > 400} == {}


def test_no_module_is_over_500_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in (ROOT / "skdde").glob("*.py")}
    assert sizes["_density.py"] > 100  # the count sees the estimators
    assert {k: n for k, n in sizes.items() if n > 500} == {}


def test_the_benchmark_suite_keeps_at_most_12_scripts_at_its_top():
    assert 0 < len(list((ROOT / "benchmarks").glob("*.py"))) <= 12
    assert list((ROOT / "benchmarks" / "ablations").glob("*.py"))
