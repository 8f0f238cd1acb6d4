"""Issue 29: the places in creme_fast that select behaviour by a test's name.

    python benchmarks/issue29/count_test_names.py [ROOT]

A place is a module-level table keyed by (or listing) test names (a dict's keys, a
set, tuple or list of them) or a comparison of a ``test`` variable with test names
(``test == "context"``, ``test in ("necessity", "sufficiency")``). Not counted: a
test's own module (``assays/<test>.py``), the registry (``assays/registry.py``),
``__all__``, strings in docstrings, comments and messages, default argument values,
and the packages that call tests by their Python API (``demo/``, ``synthetic/``,
``compat/``). Prints each place and the count.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

NAMES = {"activity", "context", "necessity", "sufficiency", "higher-order", "distance",
         "multiplicity", "fine-tile"}
OWN = {"activity.py", "context.py", "necessity.py", "sufficiency.py", "higher_order.py",
       "distance.py", "multiplicity.py", "fine_tile.py", "swap.py", "registry.py"}
SKIP = ("demo", "synthetic", "compat")


def _names_in(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Dict):
        elts = [k for k in node.keys if k is not None]
    elif isinstance(node, (ast.Set, ast.Tuple, ast.List)):
        elts = node.elts
    elif isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("frozenset", "set") \
            and node.args:
        return _names_in(node.args[0])
    else:
        elts = [node]
    return {e.value for e in elts if isinstance(e, ast.Constant) and e.value in NAMES}


def places(root: Path) -> list[str]:
    found = []
    for path in sorted((root / "creme_fast").rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[1] in SKIP or (rel.parts[1] == "assays" and path.name in OWN):
            continue
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module-level tables
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(getattr(t, "id", "") == "__all__" for t in targets):
                    continue  # names of functions, not of tests
                value = node.value
                if isinstance(value, (ast.Dict, ast.Set, ast.Tuple, ast.List, ast.Call)) \
                        and len(_names_in(value)) >= 2:
                    found.append(f"{rel}:{node.lineno}: table")
        for node in ast.walk(tree):  # comparisons of a test's name
            if isinstance(node, ast.Compare):
                left = node.left
                name = getattr(left, "id", None) or getattr(left, "attr", None) or ""
                if name.endswith("test") and any(_names_in(c) for c in node.comparators):
                    found.append(f"{rel}:{node.lineno}: comparison")
    return found


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    rows = places(root)
    print("\n".join(rows))
    print(f"{len(rows)} places")
