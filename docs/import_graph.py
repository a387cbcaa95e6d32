"""Draw skdde's internal import graph and check that it is layered.

Parses ``skdde/*.py`` with :mod:`ast` and collects the imports between the
package's modules: relative (``from . import x``, ``from ._mod import y``) and
absolute (``import skdde._mod``, ``from skdde._mod import y``); a name imported
from the package itself (``from . import name``, not a module) counts as an import
of ``__init__``. Each module's layer is the length of the longest import path
below it, so modules importing nothing are layer 0, at the bottom, and every edge
points down. Writes ``docs/_static/import_graph.svg`` (matplotlib only), prints
the layers and the edges, and exits with status 1 on a cycle or an edge that does
not point down a layer.

    python docs/import_graph.py
"""

import ast
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "skdde"
OUT = ROOT / "docs" / "_static" / "import_graph.svg"
plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "skdde"})  # text, stable ids


def imports(path, modules):
    """The skdde modules that the file at ``path`` imports (anywhere in it)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("skdde.")}
        elif isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".")
            if node.level == 1 or (node.level == 0 and parts[0] == "skdde"):
                inner = parts[1:] if node.level == 0 else parts if node.module else []
                if inner and inner[0]:  # from ._mod import y / from skdde._mod import y
                    found.add(inner[0])
                else:  # from . import x / from skdde import x: a module, or __init__'s name
                    found |= {a.name if a.name in modules else "__init__" for a in node.names}
    return found & modules - {path.stem}


def layers(graph):
    """Each module's longest import path below it; raises ValueError on a cycle."""
    layer, active = {}, []

    def visit(module):
        if module in active:
            cycle = active[active.index(module):] + [module]
            raise ValueError("import cycle: " + " -> ".join(cycle))
        if module not in layer:
            active.append(module)
            layer[module] = 1 + max((visit(d) for d in graph[module]), default=-1)
            active.pop()
        return layer[module]

    for module in sorted(graph):
        visit(module)
    return layer


def draw(graph, layer):
    """Modules in rows by layer (0 at the bottom), ordered by where their imports sit."""
    rows = {}
    for module in sorted(graph, key=lambda m: (layer[m], m)):
        rows.setdefault(layer[module], []).append(module)
    x = {}
    for depth in sorted(rows):
        row = rows[depth]
        if depth:  # barycentre of the modules imported, to shorten the edges
            row.sort(key=lambda m: sum(x[d] for d in graph[m]) / len(graph[m]))
        for i, module in enumerate(row):
            x[module] = (i + 1) / (len(row) + 1)
    width = max(len(r) for r in rows.values())
    fig, ax = plt.subplots(figsize=(max(6, 1.9 * width), 1.3 * len(rows) + 0.6))
    for module, deps in graph.items():
        for dep in sorted(deps):
            ax.annotate("", xy=(x[dep], layer[dep]), xytext=(x[module], layer[module]),
                        arrowprops=dict(arrowstyle="-|>", color="0.55", lw=0.8,
                                        shrinkA=11, shrinkB=11))
    for module in graph:
        ax.text(x[module], layer[module], module, ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round", fc="white", ec="C0"))
    ax.set(xlim=(0, 1), ylim=(-0.5, len(rows) - 0.5), xticks=[],
           yticks=range(len(rows)), ylabel="layer (longest import path below)")
    ax.set_title("skdde: imports between its modules (arrows point to the imported)")
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    fig.savefig(OUT, metadata={"Date": None})


def main():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    graph = {m: imports(PACKAGE / f"{m}.py", modules) for m in sorted(modules)}
    edges = sorted((m, d) for m, deps in graph.items() for d in deps)
    try:
        layer = layers(graph)
    except ValueError as error:
        print("\n".join(f"{m} -> {d}" for m, d in edges))
        print(error)
        return 1
    for depth in range(max(layer.values()) + 1):
        print(f"layer {depth}: " + ", ".join(m for m in sorted(graph) if layer[m] == depth))
    bad = [(m, d) for m, d in edges if layer[m] <= layer[d]]
    for m, d in edges:
        print(f"{m} ({layer[m]}) -> {d} ({layer[d]}){'  NOT DOWNWARD' if (m, d) in bad else ''}")
    draw(graph, layer)
    print(f"{len(edges)} edges, {len(bad)} not pointing down; wrote {OUT.relative_to(ROOT)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
