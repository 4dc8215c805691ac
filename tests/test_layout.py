"""The package's layout: no import cycles between its modules, no private name imported across them."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "reln"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(module, imported names)`` of every absolute ``reln`` import, at any depth of the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "reln" and not node.level:
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.split(".")[0] == "reln"]
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {m: set() for m in modules}
    for module, path in modules.items():
        for target, names in _imports(path):
            for candidate in [f"{target}.{n}" for n in names] + [target]:
                if candidate in modules and candidate != module:
                    graph[module].add(candidate)
                    break
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, or None (depth-first search with colours)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle():
    assert _cycle(_graph()) is None, " -> ".join(_cycle(_graph()))


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_private_name_imported_across_modules():
    private = [
        f"{module}: {target}.{name}"
        for module, path in _modules().items()
        for target, names in _imports(path)
        for name in names
        if name.startswith("_") and target != module
    ]
    assert not private, private


def test_every_public_function_has_a_runnable_example():
    """Each function of the curated API (``reln.__all__``) shows a ``>>>`` example, run as a
    doctest by the test command; the API stays curated (a few dozen names at most)."""
    import inspect

    import reln

    functions = [name for name in reln.__all__ if inspect.isfunction(getattr(reln, name))]
    assert len(functions) >= 15 and len(reln.__all__) <= 30
    missing = [name for name in functions if ">>>" not in (inspect.getdoc(getattr(reln, name)) or "")]
    assert not missing, f"public functions without an example: {missing}"


def test_docstrings_hold_the_math_not_measurements():
    """Measurements are generated into the report by ``reln reproduce``, never typed into the code:
    no docstring under ``src/`` holds a measured range such as ``.012-.017`` or points at an issue."""
    import re

    measured = re.compile(r"(?<![\w.])\.\d{2,4}\s*[-–]\s*\.?\d{2,4}\b|\bissue \d+", re.IGNORECASE)
    found = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node) or ""
                found += [f"{name}: {m.group(0)}" for m in measured.finditer(doc)]
    assert not found, found


def test_every_section_the_code_cites_exists_in_docs_theory():
    """Docstrings cite the project's own ``docs/theory.md`` by section; each cited section must be
    a heading there (and no file outside the repository is cited)."""
    import re

    doc = (PACKAGE.parents[1] / "docs" / "theory.md").read_text()
    headings = set(re.findall(r"^#+\s+(\d+(?:\.\d+)?)\b", doc, flags=re.M))
    cited, missing = 0, []
    for name, path in _modules().items():
        text = path.read_text()
        assert "THEORY.md" not in text, f"{name} cites a file the repository does not ship"
        for match in re.finditer(r"theory\.md[^\n]{0,40}?§\s*([\d.]+(?:\s*[,–-]\s*§?\s*[\d.]+)*)", text):
            for section in re.findall(r"\d+(?:\.\d+)?", match.group(1)):
                cited += 1
                if section not in headings:
                    missing.append(f"{name}: §{section}")
    assert cited > 50 and not missing, missing
