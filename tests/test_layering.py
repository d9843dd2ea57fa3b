"""The tool never imports the training lab (DESIGN.md section 2: viewer/training is a lab beside the tool).

Two checks: every import statement of every module outside viewer/training, read with ast (so a lazy
import inside a function, which a plain import of the module would not run, is caught too), and a fresh
interpreter that imports the atlas's modules and finds no viewer.training loaded.
"""
import ast
import os
import subprocess
import sys

from conftest import ROOT

VIEWER = ROOT / "viewer"
LAB = "viewer.training"


def module_name(path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, relative ones resolved; for
    `from X import a, b` both X and X.a, X.b (a name may be a submodule: `from .. import training`)."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # level 1 is this package, each further level one package up
                up = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__"):
            found += [(node.lineno, arg.value) for arg in node.args[:1]
                      if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
    return found


def in_lab(name: str) -> bool:
    return name == LAB or name.startswith(LAB + ".")


def lab_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """One line per import statement of the lab: "module:line imports name" (the first name it reaches)."""
    found = {}
    for line, name in imported_modules(source, module, is_package):
        if in_lab(name):
            found.setdefault(line, f"{module}:{line} imports {name}")
    return list(found.values())


def test_the_scan_sees_the_import_forms_it_must_refuse():
    """The scan itself, on the import the atlas used to make (inside a function) and its other spellings."""
    lazy = "def f():\n    from ..training.data import (\n        DataError,\n        load_cifar10,\n    )\n"
    assert lab_imports(lazy, "viewer.atlas.data") == ["viewer.atlas.data:2 imports viewer.training.data"]
    for bad in ("import viewer.training.train", "from viewer.training import data", "from .. import training",
                "from ...training import x", "importlib.import_module('viewer.training.evaluate')"):
        module = "viewer.atlas.data" if "..." not in bad else "viewer.atlas.sub.mod"
        assert lab_imports(bad, module), bad
    for fine in ("from .data import x", "from ..cifar10 import load_cifar10", "import viewer.trainingwheels",
                 "from . import training_notes", "'python -m viewer.training.train'"):
        assert not lab_imports(fine, "viewer.atlas.data"), fine
    assert lab_imports("from . import training", "viewer", is_package=True)


def test_no_module_outside_the_lab_imports_it():
    sources = [p for p in VIEWER.rglob("*.py") if not in_lab(module_name(p))]
    assert len(sources) > 30 and any(p.parts[-2:] == ("atlas", "data.py") for p in sources)
    found = []
    for path in sources:
        found += lab_imports(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")
    assert found == []


def test_importing_the_atlas_loads_nothing_of_the_lab():
    """The atlas reads CIFAR-10 (viewer/cifar10.py) without the lab's modules (the window's own modules are
    checked the same way in test_hygiene.py). Its __main__ runs main() only as a script, so it is imported."""
    names = sorted(module_name(p) for p in (VIEWER / "atlas").glob("*.py"))
    assert "viewer.atlas.data" in names and "viewer.atlas.__main__" in names
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "assert 'viewer.cifar10' in sys.modules\n"
            "print(sorted(m for m in sys.modules if m == 'viewer.training' or m.startswith('viewer.training.')))\n")
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
