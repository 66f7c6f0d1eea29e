"""Imports go one way: from the entry points down to the leaves (docs/design.md, "Layers").

Every ``monitor`` import in the package is read, those inside functions included, and each
must stay inside its own package or go to a lower layer. Stages of one layer do not import
each other, except where ``SIDEWAYS`` says so and why.
"""

from __future__ import annotations

import ast
from pathlib import Path

import monitor

ROOT = Path(monitor.__file__).parent

# Lowest first. Each name is a top-level module or a package of monitor/.
LAYERS: tuple[frozenset[str], ...] = tuple(
    frozenset(names.split())
    for names in (
        # leaves: values, errors and helpers every stage may use (and each other)
        "types errors redact clock units urls owner headers netguard workers text",
        "config",
        # the stages, each a library of its own
        "fetch parse articles dedupe rules notify",
        "archive",
        # orchestrators: they run the stages and write through the archive
        "poll alerts",
        "service",
        "cli",
        "__main__",
    )
)
SIDEWAYS = {
    ("articles", "fetch"),  # pages are fetched under the feed fetcher's limits
}


def unit(module: str) -> str:
    """The top-level module or package that ``monitor.a.b`` belongs to."""
    return module.split(".")[1] if "." in module else ""


def layer(name: str) -> int:
    for i, names in enumerate(LAYERS):
        if name in names:
            return i
    raise AssertionError(f"monitor.{name} is in no layer: add it to LAYERS in {__file__}")


def _is_module(name: str) -> bool:
    return (ROOT / name).is_dir() or (ROOT / f"{name}.py").is_file()


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every monitor module ``path`` imports."""
    package = ".".join(("monitor", *path.relative_to(ROOT).with_suffix("").parts))
    if path.name == "__init__.py":
        package = package.removesuffix(".__init__")
    else:
        package = package.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names = [module]
            if module == "monitor":  # `from monitor import x`: x may be a module
                names = [f"monitor.{a.name}" for a in node.names if _is_module(a.name)] or names
            found += [(node.lineno, name) for name in names]
    return [(line, m) for line, m in found if m == "monitor" or m.startswith("monitor.")]


def test_every_import_goes_down() -> None:
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        here = unit(".".join(("monitor", *path.relative_to(ROOT).with_suffix("").parts)))
        if not here or here == "__init__":
            continue
        for line, module in imports(path):
            there = unit(module)
            if there in ("", "__init__", here):  # the package's own version, or itself
                continue
            up, down = layer(here), layer(there)
            if down > up or (down == up > 0 and (here, there) not in SIDEWAYS):
                where = path.relative_to(ROOT.parent)
                wrong.append(f"{where}:{line}: {here} (layer {up}) imports {module} (layer {down})")
    assert not wrong, "imports that go up or sideways:\n" + "\n".join(wrong)


def test_every_module_is_in_a_layer() -> None:
    for path in ROOT.iterdir():
        name = path.stem if path.suffix == ".py" else path.name
        if name in ("__init__", "__pycache__") or name.startswith("."):
            continue
        layer(name)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    # The reader of imports itself: a function-level import counts.
    module = tmp_path / "x.py"
    module.write_text("def f():\n    from monitor.cli.main import main\n", encoding="utf-8")
    assert [m for _, m in imports_at(module)] == ["monitor.cli.main"]


def imports_at(path: Path) -> list[tuple[int, str]]:
    """``imports`` for a file outside the package (as a top-level module of it)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (n.lineno, n.module or "")
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("monitor")
    ]
