"""The package's shape, read from its source: imports flow down the layers, functions and
modules stay short.

Layers, lowest first (a module may import its own layer and the ones before it):

0. foundation: ``gankit.errors``, ``gankit.registry``; and ``from gankit import __version__``
   (bound before the package's ``__init__`` imports anything). Any other import of the
   package ``gankit`` itself reaches its ``__init__``, which is top.
1. ``gankit.core`` and ``gankit.data``: one level, but neither imports the other.
2. ``gankit.config``
3. ``gankit.training``
4. ``gankit.evaluation``
5. ``gankit.apps``
6. top: ``gankit.cli``, ``gankit.api``, ``gankit/__init__.py``, ``gankit/__main__.py``

Every import counts: module-level or inside a function, absolute or relative, and
``importlib.import_module("gankit....")`` with a literal name.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "gankit"
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 400

# (layer name, module prefixes); a prefix matches itself and its submodules.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("gankit.errors", "gankit.registry")),
    ("core/data", ("gankit.core", "gankit.data")),
    ("config", ("gankit.config",)),
    ("training", ("gankit.training",)),
    ("evaluation", ("gankit.evaluation",)),
    ("apps", ("gankit.apps",)),
    ("top", ("gankit.cli", "gankit.api", "gankit.__main__")),
]
TOP = len(LAYERS) - 1
# Names of the package ``gankit`` that are bound before its __init__ imports anything.
FOUNDATION_NAMES = {"__version__"}
# Same level, but kept apart: neither may import the other.
APART = {"gankit.core": "gankit.data", "gankit.data": "gankit.core"}


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str) -> int | None:
    """The layer index of a gankit module; the package itself (its __init__) is top."""
    if module == "gankit":
        return TOP
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(_within(module, p) for p in prefixes):
            return index
    return None


def module_name(path: Path, package_dir: Path) -> str:
    """``gankit/data/toy2d.py`` -> ``gankit.data.toy2d``; ``gankit/data/__init__.py`` ->
    ``gankit.data``."""
    parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_submodule(module: str, package_dir: Path) -> bool:
    relative = Path(*module.split(".")[1:])
    return (package_dir / relative).with_suffix(".py").is_file() or \
        (package_dir / relative / "__init__.py").is_file()


def imported_modules(tree: ast.AST, module: str, is_package: bool, package_dir: Path
                     ) -> list[tuple[int, str]]:
    """(line, imported gankit module) for every import in ``tree``; a name imported from a
    package counts as its submodule when there is one (``from gankit import cli``)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                parts = parts if is_package else parts[:-1]
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if _within(base, "gankit") and _is_submodule(full, package_dir):
                    found.append((node.lineno, full))
                elif base == "gankit" and alias.name in FOUNDATION_NAMES:
                    found.append((node.lineno, "gankit.errors"))  # a foundation name
                else:
                    found.append((node.lineno, base))
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name)
                       and node.func.id in ("import_module", "__import__")))):
            found.append((node.lineno, node.args[0].value))
    return sorted({(line, name) for line, name in found if _within(name, "gankit")})


def check_file(path: Path, package_dir: Path = PACKAGE) -> list[str]:
    """Every violation in one file, as ``file:line: rule: what``."""
    source = path.read_text(encoding="utf-8")
    where = path.relative_to(package_dir.parent).as_posix()
    tree = ast.parse(source, filename=str(path))
    problems: list[str] = []
    lines = len(source.splitlines())
    if lines > MAX_MODULE_LINES:
        problems.append(f"{where}:1: module length: {lines} lines (at most "
                        f"{MAX_MODULE_LINES})")
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                problems.append(f"{where}:{node.lineno}: function length: {node.name} has "
                                f"{length} lines (at most {MAX_FUNCTION_LINES})")
    module = module_name(path, package_dir)
    own = layer_of(module)
    if own is None:
        return problems + [f"{where}:1: layering: {module} is in no layer; add it to "
                           f"tests/test_layout.py LAYERS"]
    for line, target in imported_modules(tree, module, path.name == "__init__.py",
                                         package_dir):
        theirs = layer_of(target)
        if theirs is None:
            problems.append(f"{where}:{line}: layering: imports {target}, which is in no "
                            f"layer")
        elif theirs > own:
            problems.append(f"{where}:{line}: layering: {module} ({LAYERS[own][0]}) imports "
                            f"{target} ({LAYERS[theirs][0]}), a later layer")
        else:
            for mine, other in APART.items():
                if _within(module, mine) and _within(target, other):
                    problems.append(f"{where}:{line}: layering: {module} imports {target}; "
                                    f"{mine} and {other} do not import each other")
    return problems


def check_package(package_dir: Path = PACKAGE) -> list[str]:
    """The violations of every ``*.py`` under ``package_dir``, file by file."""
    problems: list[str] = []
    for path in sorted(package_dir.rglob("*.py")):
        problems += check_file(path, package_dir)
    return problems


def test_package_layout():
    problems = check_package()
    assert not problems, f"{len(problems)} layout violations:\n" + "\n".join(problems)


# --- the checker itself ------------------------------------------------------------------------

def _write(package_dir: Path, relative: str, source: str) -> Path:
    path = package_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    return path


def _function(name: str, lines: int) -> str:
    """A function of exactly ``lines`` lines, decorated (the decorator does not count)."""
    return "@staticmethod\ndef " + name + "():\n" + "    x = 1\n" * (lines - 2) + \
        "    return x\n"


def test_checker_finds_each_kind_of_violation(tmp_path):
    package = tmp_path / "gankit"
    for folder in ("", "core", "data", "training", "evaluation", "apps"):
        _write(package, f"{folder}/__init__.py" if folder else "__init__.py", "")
    _write(package, "errors.py", "")
    _write(package, "config.py", "")
    _write(package, "cli.py", "")
    _write(package, "training/loop.py", "")
    _write(package, "data/registry.py", "")
    _write(package, "core/steps.py", "")
    problems = check_file(_write(package, "data/bad.py", (
        "import gankit.training.loop\n"                         # 1: later layer
        "from gankit.core import steps\n"                        # 2: core and data apart
        "from gankit import cli\n"                               # 3: a submodule: top
        "from gankit import train\n"                             # 4: the package: top
        "def f():\n"
        "    from ..evaluation import metrics\n"                 # 6: relative, in a function
        "    importlib.import_module('gankit.apps.x')\n"         # 7: by name
        + _function("long", MAX_FUNCTION_LINES + 1)
        + "\n" * (MAX_MODULE_LINES - 8 - MAX_FUNCTION_LINES))), package)
    text = "\n".join(problems)
    assert "gankit/data/bad.py:1: module length: 401 lines" in text
    assert f"gankit/data/bad.py:9: function length: long has {MAX_FUNCTION_LINES + 1}" in text
    for line, target in [(1, "gankit.training.loop"), (3, "gankit.cli"), (4, "gankit (top)"),
                         (6, "gankit.evaluation"), (7, "gankit.apps.x")]:
        assert f"gankit/data/bad.py:{line}: layering: gankit.data.bad (core/data) imports " \
               f"{target}" in text, (line, text)
    assert "gankit/data/bad.py:2: layering: gankit.data.bad imports gankit.core.steps; " \
           "gankit.data and gankit.core do not import each other" in text
    assert len(problems) == 8, text
    assert check_file(_write(package, "stray.py", ""), package) == [
        "gankit/stray.py:1: layering: gankit.stray is in no layer; add it to "
        "tests/test_layout.py LAYERS"]


def test_checker_accepts_what_the_rules_allow(tmp_path):
    package = tmp_path / "gankit"
    _write(package, "__init__.py", "from gankit.apps import x\n")
    _write(package, "errors.py", "")
    _write(package, "data/__init__.py", "from .registry import ImageData\nfrom . import toy\n")
    _write(package, "data/registry.py", "")
    _write(package, "data/toy.py", "")
    source = ("from gankit import __version__\n"
              "from gankit.errors import UserError\n"
              "from gankit.data import toy\n"
              "from . import registry\n"
              + _function("exactly", MAX_FUNCTION_LINES))
    path = _write(package, "data/ok.py", source + "\n" * (MAX_MODULE_LINES - 5
                                                          - MAX_FUNCTION_LINES))
    assert len(path.read_text().splitlines()) == MAX_MODULE_LINES
    assert check_file(path, package) == []
    assert check_package(package) == []
