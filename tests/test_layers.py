"""The import graph points one way (docs/architecture.md).

Every ``import`` in the project's packages, module-level or inside a function, is an edge. Each
module belongs to one layer; an edge may point to the same layer or a lower one, never up, and the
two sibling layers (policies/estimators and worlds) never import each other. No cycle among modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bandits", "envs", "experiments", "examples", "benchmarks")

# (layer name, rank, module prefixes): the longest matching prefix decides a module's layer.
LAYERS = [
    ("contracts", 0, ("bandits.contracts", "bandits.data", "bandits.datasets", "bandits.caching")),
    ("bandits", 1, ("bandits", "bandits.core", "bandits.validation", "bandits.policies", "bandits.estimators")),
    ("envs", 1, ("envs",)),
    ("engine", 2, ("bandits.engine",)),
    ("experiments", 3, ("experiments",)),
    ("studies", 4, ("examples", "benchmarks")),
]


def layer_of(module: str) -> tuple[str, int] | None:
    best = None
    for name, rank, prefixes in LAYERS:
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None or len(p) > best[2]):
                best = (name, rank, len(p))
    return None if best is None else (best[0], best[1])


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for p in (ROOT / pkg).rglob("*.py"):
            mods[module_name(p)] = p
    return mods


def imports_of(path: Path, module: str, is_pkg: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                stem = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # ``from pkg import sub`` names the submodule; ``from pkg import name`` names pkg itself
            out.update(f"{stem}.{a.name}" for a in node.names)
    return out


def graph() -> dict[str, set[str]]:
    mods = project_modules()
    edges: dict[str, set[str]] = {}
    for m, p in mods.items():
        targets = set()
        for imp in imports_of(p, m, p.name == "__init__.py"):
            # resolve to the longest project module that the import names
            parts = imp.split(".")
            for k in range(len(parts), 0, -1):
                cand = ".".join(parts[:k])
                if cand in mods:
                    if cand != m:
                        targets.add(cand)
                    break
        edges[m] = targets
    return edges


def test_every_module_has_a_layer():
    missing = [m for m in project_modules() if layer_of(m) is None]
    assert not missing, f"modules without a layer: {missing}"


def test_no_upward_or_sideways_import():
    bad = []
    for src, targets in graph().items():
        ls, rs = layer_of(src)
        for dst in targets:
            ld, rd = layer_of(dst)
            if rd > rs or (rd == rs and ld != ls):
                bad.append(f"{src} ({ls}) imports {dst} ({ld})")
    assert not bad, "imports against the layering:\n" + "\n".join(sorted(bad))


def test_no_import_cycle():
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)
