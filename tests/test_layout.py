"""The package's shape, read from its source: imports flow down the layers, functions and
modules stay short, and functions take their options by keyword.

Sizes: no function over :data:`MAX_FUNCTION_LINES` (60) lines, none taking more than
:data:`MAX_POSITIONAL` (6) parameters by position (``self``/``cls`` not counted; keyword-only
parameters, after a bare ``*`` or ``*args``, and ``**kwargs`` do not count: options are
keyword-only), no module over :data:`MAX_MODULE_LINES` (400) lines.

Layers, lowest first (a module may import its own layer and the ones before it):

0. foundation: ``gankit.errors``, ``gankit.registry``; and ``from gankit import __version__``
   (bound before the package's ``__init__`` imports anything). Any other import of the
   package ``gankit`` itself reaches its ``__init__``, which is top.
1. ``gankit.core`` and ``gankit.data``: one level, but neither imports the other.
2. ``gankit.config``
3. ``gankit.speed``: the speed machinery
4. ``gankit.training``
5. ``gankit.evaluation``
6. ``gankit.apps``
7. top: ``gankit.cli``, ``gankit.api``, ``gankit/__init__.py``, ``gankit/__main__.py``

Every import counts: module-level or inside a function, absolute or relative, and
``importlib.import_module("gankit....")`` with a literal name.

Two more rules keep the speed machinery behind its one hook: outside ``gankit.speed`` only
the modules of :data:`SPEED_IMPORTERS` (the driver, and the named exceptions) import it,
and only ``gankit.speed`` calls ``torch.set_num_threads`` (one owner of the thread count).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "gankit"
MAX_FUNCTION_LINES = 60
MAX_POSITIONAL = 6  # parameters a function takes by position, self/cls not counted
MAX_MODULE_LINES = 400

# (layer name, module prefixes); a prefix matches itself and its submodules.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("gankit.errors", "gankit.registry")),
    ("core/data", ("gankit.core", "gankit.data")),
    ("config", ("gankit.config",)),
    ("speed", ("gankit.speed",)),
    ("training", ("gankit.training",)),
    ("evaluation", ("gankit.evaluation",)),
    ("apps", ("gankit.apps",)),
    ("top", ("gankit.cli", "gankit.api", "gankit.__main__", "gankit.studio")),
]
TOP = len(LAYERS) - 1
# Names of the package ``gankit`` that are bound before its __init__ imports anything.
FOUNDATION_NAMES = {"__version__"}
# Same level, but kept apart: neither may import the other.
APART = {"gankit.core": "gankit.data", "gankit.data": "gankit.core"}
SPEED = "gankit.speed"
# The only modules outside gankit.speed that may import it, each with the reason. The driver
# calls the machinery (speed.tune, once a session) and is the door for callers outside a
# run.
SPEED_IMPORTERS = {
    "gankit.training.driver": "the driver: its one hook, speed.tune; and the door for callers "
                              "outside a run (gankit train's start-up, a fixed thread count "
                              "for the extractors, the CPUs --nproc shares out)",
}
THREAD_SETTERS = ("set_num_threads",)  # torch's; only gankit.speed calls them


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


def positional_parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """How many parameters ``node`` takes by position (positional-only and ordinary ones),
    a leading ``self`` or ``cls`` not counted; keyword-only ones, ``*args`` and ``**kwargs``
    are not positional parameters."""
    names = [a.arg for a in node.args.posonlyargs + node.args.args]
    return len(names) - (1 if names and names[0] in ("self", "cls") else 0)


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
            positional = positional_parameters(node)
            if positional > MAX_POSITIONAL:
                problems.append(f"{where}:{node.lineno}: positional parameters: {node.name} "
                                f"takes {positional} (at most {MAX_POSITIONAL}; make the "
                                f"options keyword-only, after a bare *)")
    module = module_name(path, package_dir)
    own = layer_of(module)
    if own is None:
        return problems + [f"{where}:1: layering: {module} is in no layer; add it to "
                           f"tests/test_layout.py LAYERS"]
    problems += _thread_setters(tree, where, module)
    for line, target in imported_modules(tree, module, path.name == "__init__.py",
                                         package_dir):
        if (_within(target, SPEED) and not _within(module, SPEED)
                and module not in SPEED_IMPORTERS):
            problems.append(f"{where}:{line}: speed: {module} imports {target}; only the driver "
                            f"calls into the speed machinery (tests/test_layout.py "
                            f"SPEED_IMPORTERS)")
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


def _thread_setters(tree: ast.AST, where: str, module: str) -> list[str]:
    """A call of ``torch.set_num_threads`` (under any name) outside gankit.speed."""
    if _within(module, SPEED):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else \
                getattr(node.func, "id", "")
            if name in THREAD_SETTERS:
                found.append(f"{where}:{node.lineno}: threads: {module} calls {name}; "
                             f"gankit.speed owns the thread count")
    return found


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


def test_checker_keeps_the_speed_machinery_behind_the_driver(tmp_path):
    """Outside gankit.speed, a module not in SPEED_IMPORTERS that imports it, and any call
    of torch.set_num_threads, are violations; inside it and in the driver they are not."""
    package = tmp_path / "gankit"
    for folder in ("", "speed", "training", "evaluation"):
        _write(package, f"{folder}/__init__.py" if folder else "__init__.py", "")
    _write(package, "speed/threads.py", "import torch\ntorch.set_num_threads(1)\n")
    _write(package, "training/driver.py", "from gankit import speed\nfrom gankit.speed import x\n")
    assert check_file(package / "speed" / "threads.py", package) == []
    assert check_file(package / "training" / "driver.py", package) == []
    problems = check_file(_write(package, "training/kind.py", (
        "from gankit.speed import threads\n"                    # 1: not the driver
        "def f():\n"
        "    import gankit.speed.calibrate\n"                    # 3: in a function, too
        "    torch.set_num_threads(2)\n"                         # 4: another thread owner
        "    from torch import set_num_threads\n"
        "    set_num_threads(1)\n")), package)                   # 6: by its bare name
    text = "\n".join(problems)
    for line, target in [(1, "gankit.speed.threads"), (3, "gankit.speed.calibrate")]:
        assert f"gankit/training/kind.py:{line}: speed: gankit.training.kind imports " \
               f"{target}; only the driver" in text, (line, text)
    for line in (4, 6):
        assert f"gankit/training/kind.py:{line}: threads: gankit.training.kind calls " \
               f"set_num_threads; gankit.speed owns the thread count" in text, (line, text)
    assert len(problems) == 4, text
    # a lower layer importing the machinery breaks the layers as well
    low = check_file(_write(package, "config.py", "import gankit.speed\n"), package)
    assert [p.split(": ")[1] for p in low] == ["speed", "layering"], low


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


def test_checker_counts_positional_parameters(tmp_path):
    """More than MAX_POSITIONAL parameters that can be passed by position is a violation
    (positional-only ones count, in methods and async functions too); self/cls, keyword-only
    parameters (after a bare * or *args) and **kwargs do not count."""
    package = tmp_path / "gankit"
    _write(package, "__init__.py", "")
    _write(package, "core/__init__.py", "")
    problems = check_file(_write(package, "core/many.py", (
        "def seven(a, b, c, d, e, f, g=0):\n"                     # 1: seven, one with a default
        "    return a\n"
        "class Net:\n"
        "    def __init__(self, a, b, /, c, d, e, f, g):\n"       # 4: positional-only count too
        "        def inner(a, b, c, d, e, f, g, *args):\n"        # 5: nested; *args is not one
        "            pass\n"
        "async def later(a, b, c, d, e, f, g, *, h=0):\n"         # 7
        "    pass\n")), package)
    assert sorted(problems, key=lambda p: int(p.split(":")[1])) == [
        f"gankit/core/many.py:{line}: positional parameters: {name} takes 7 (at most "
        f"{MAX_POSITIONAL}; make the options keyword-only, after a bare *)"
        for line, name in [(1, "seven"), (4, "__init__"), (5, "inner"), (7, "later")]], problems
    assert check_file(_write(package, "core/options.py", (
        "def six(a, b, c, d, e, f, *, g=0, h=1, i=2):\n"           # options keyword-only
        "    return a\n"
        "class Net:\n"
        "    def __init__(self, a, b, c, d, e, f, *args, g=0, **kwargs):\n"
        "        pass\n"
        "    @classmethod\n"
        "    def create(cls, a, b, c, d, e, f, /, *, g):\n"
        "        pass\n")), package) == []


# --- no kind branch: what kind a config or run is, is asked in the kinds registry only ---------

# The one module that may ask what kind a config is (kind_of and the built-in kinds' claims);
# everything else looks the kind's entry up in its layer's table (gankit/config/kinds.py).
KIND_REGISTRY = ("gankit/config/kinds.py",)
KIND_NAMES = {"generation", "translation"}  # the built-in training kinds
KIND_HELPERS = {"is_translation_run", "expect_generation"}  # the kind checks it replaced
KIND_PROBES = {"translator", "translate"}  # what hasattr(run, ...) asked a translation run


def _names_in(node: ast.AST) -> set[str]:
    """The names, attribute names and string constants anywhere under ``node``."""
    found: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            found.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            found.add(sub.attr)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            found.add(sub.value)
    return found


def _call_name(node: ast.AST) -> str:
    func = node.func if isinstance(node, ast.Call) else None
    return func.id if isinstance(func, ast.Name) else \
        func.attr if isinstance(func, ast.Attribute) else ""


def kind_branches(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for each check of what kind a config or run is: ``.translates``,
    ``hasattr(run, "translator")``, the helpers that asked it, ``isinstance`` against a
    run class (a name ending in ``Run``), and comparisons with a kind's name, with
    ``kind_of(...)`` or of a ``mode`` with "off" (``cfg.translation.mode != "off"``; a
    check of the mode's value among its choices is no kind branch)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "translates":
            found.append((node.lineno, ".translates"))
        elif isinstance(node, (ast.Name, ast.Attribute, ast.alias, ast.FunctionDef)):
            name = getattr(node, "id", None) or getattr(node, "attr", None) or \
                getattr(node, "name", None)
            if name in KIND_HELPERS:
                found.append((getattr(node, "lineno", 0), name))
        if isinstance(node, ast.Call) and _call_name(node) in ("hasattr", "getattr") and \
                len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and \
                node.args[1].value in KIND_PROBES:
            found.append((node.lineno, f"{_call_name(node)}(..., {node.args[1].value!r})"))
        if isinstance(node, ast.Call) and _call_name(node) in ("isinstance", "issubclass") \
                and len(node.args) == 2:
            classes = sorted(n for n in _names_in(node.args[1]) if n.endswith("Run"))
            if classes:
                found.append((node.lineno, f"{_call_name(node)}(..., {', '.join(classes)})"))
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            texts = {n.value for side in sides for n in [side, *getattr(side, "elts", [])]
                     if isinstance(n, ast.Constant)}
            calls = {_call_name(n) for n in ast.walk(node) if isinstance(n, ast.Call)}
            off = "off" in texts and "mode" in _names_in(node) and \
                all(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops)
            if texts & KIND_NAMES or "kind_of" in calls or off:
                found.append((node.lineno, "a comparison of a kind"))
    return found


def check_kind_branches(package_dir: Path = PACKAGE) -> list[str]:
    """``file:line: kind branch: what`` for every kind branch outside the registry."""
    problems = []
    for path in sorted(package_dir.rglob("*.py")):
        where = path.relative_to(package_dir.parent).as_posix()
        if where in KIND_REGISTRY:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        problems += [f"{where}:{line}: kind branch: {what}; look the kind's entry up in its "
                     f"layer's table (gankit/config/kinds.py)"
                     for line, what in sorted(set(kind_branches(tree)))]
    return problems


def test_no_kind_branch_outside_the_kinds_registry(tmp_path):
    package = tmp_path / "gankit"
    _write(package, "apps/bad.py", (
        "if cfg.translates:\n"                                                 # 1
        "    ok = hasattr(run, 'translator')\n"                                # 2
        "from gankit.cli.translate import is_translation_run\n"                # 3
        "run = trained.expect_generation(run)\n"                               # 4
        "if isinstance(run, (str, trained.TranslationRun)) or isinstance(run, Run):\n"  # 5
        "    pass\n"
        "if kind_of(cfg) == name or run.kind != 'translation':\n"              # 7
        "    pass\n"
        "if tree.get('translation', {}).get('mode', 'off') != 'off':\n"        # 9
        "    pass\n"
        "paired = cfg.translation.mode == 'paired' or mode in ('off', 'paired')\n"  # 11: ok
        "entry = TRAINING[run.kind]\n"                                         # 12: allowed
        "ok = isinstance(run, (str, Path)) and require(run.kind, 'sample')\n"))  # 13: allowed
    _write(package, "config/kinds.py", "claims = lambda cfg: cfg.translation.mode != 'off'\n")
    problems = check_kind_branches(package)
    lines = [int(p.split(":")[1]) for p in problems]
    assert all(p.startswith("gankit/apps/bad.py:") for p in problems), problems
    assert lines == [1, 2, 3, 4, 5, 5, 7, 9], "\n".join(problems)
    assert ".translates" in problems[0] and "hasattr(..., 'translator')" in problems[1]
    assert "TranslationRun" in "".join(problems) and "isinstance(..., Run)" in "".join(problems)
    # and gankit itself asks what kind a config or run is only in the registry
    problems = check_kind_branches()
    assert not problems, f"{len(problems)} kind branches:\n" + "\n".join(problems)
