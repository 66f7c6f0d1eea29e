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
        "types errors redact clock units urls owner headers netguard workers aio text",
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


def imports(root: Path, path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of the package at ``root`` in ``path``."""
    top = root.name
    parts = (top, *path.relative_to(root).with_suffix("").parts)
    package = ".".join(parts[:-1])  # a module's package; an __init__'s is itself
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
            if module == top:  # `from monitor import x`: x may be a module
                is_module = [
                    (root / a.name).is_dir() or (root / f"{a.name}.py").is_file()
                    for a in node.names
                ]
                names = [
                    f"{top}.{a.name}" for a, m in zip(node.names, is_module, strict=True) if m
                ] or names
            found += [(node.lineno, name) for name in names]
    return [(line, m) for line, m in found if m == top or m.startswith(f"{top}.")]


def unit(module: str) -> str:
    """The top-level module or package that ``monitor.a.b`` belongs to ("" for ``monitor``)."""
    return module.split(".")[1] if "." in module else ""


def layer(name: str) -> int:
    for i, names in enumerate(LAYERS):
        if name in names:
            return i
    raise AssertionError(f"monitor.{name} is in no layer: add it to LAYERS in {__file__}")


def violations(root: Path) -> list[str]:
    """Every import in the package at ``root`` that goes up, or sideways between stages."""
    wrong = []
    for path in sorted(root.rglob("*.py")):
        here = unit(".".join((root.name, *path.relative_to(root).with_suffix("").parts)))
        if here in ("", "__init__"):
            continue
        for line, module in imports(root, path):
            there = unit(module)
            if there in ("", "__init__", here):  # the package itself, or its own modules
                continue
            up, down = layer(here), layer(there)
            if down > up or (down == up > 0 and (here, there) not in SIDEWAYS):
                where = path.relative_to(root.parent)
                wrong.append(f"{where}:{line}: {here} (layer {up}) imports {module} (layer {down})")
    return wrong


def test_every_import_goes_down() -> None:
    wrong = violations(ROOT)
    assert not wrong, "imports that go up or sideways:\n" + "\n".join(wrong)


def test_every_module_is_in_a_layer() -> None:
    for path in ROOT.iterdir():
        name = path.stem if path.suffix == ".py" else path.name
        if name in ("__init__", "__pycache__") or name.startswith("."):
            continue
        layer(name)


def test_an_upward_or_sideways_import_is_caught(tmp_path: Path) -> None:
    root = tmp_path / "monitor"
    (root / "poll").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "poll" / "__init__.py").write_text("")
    # Up, inside a function, relative; sideways between two stages; both are caught.
    (root / "types.py").write_text("def f():\n    from .cli.main import main\n")
    (root / "poll" / "poller.py").write_text("from monitor import alerts\nfrom . import decide\n")
    (root / "alerts.py").write_text("")
    assert violations(root) == [
        "monitor/poll/poller.py:1: poll (layer 4) imports monitor.alerts (layer 4)",
        "monitor/types.py:2: types (layer 0) imports monitor.cli.main (layer 6)",
    ]
