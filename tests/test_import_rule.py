"""The layering rule: the ``kssd`` library imports nothing from the ``kssd_zoo`` application.

``kssd_zoo`` (specs, the Detector, weights, the sticker application and the ``kssd`` command
line) is built on ``kssd``; the other direction is forbidden, at import time and inside
functions alike. Docstring examples may use the zoo: they are text, not code.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import kssd

KSSD_DIR = Path(kssd.__file__).resolve().parent
REPO_ROOT = KSSD_DIR.parent
FORBIDDEN = "kssd_zoo"

# Run in a fresh interpreter: a finder placed first on sys.meta_path, before anything is
# imported, makes kssd_zoo unimportable; then every module of kssd is imported.
_CHILD = r"""
import importlib, json, os, pkgutil, sys, traceback

class BlockZoo:
    def find_spec(self, name, path=None, target=None):
        if name == "kssd_zoo" or name.startswith("kssd_zoo."):
            raise ImportError(f"kssd_zoo is blocked: the kssd library must not import {name}")
        return None

sys.meta_path.insert(0, BlockZoo())

import kssd

failures, imported = {}, ["kssd"]
def on_error(name):
    failures[name] = traceback.format_exc(limit=-3)

for info in pkgutil.walk_packages(kssd.__path__, "kssd.", onerror=on_error):
    try:
        importlib.import_module(info.name)
        imported.append(info.name)
    except BaseException:
        failures[info.name] = traceback.format_exc(limit=-3)

print(json.dumps({"imported": imported, "failures": failures,
                  "zoo_loaded": sorted(m for m in sys.modules
                                       if m == "kssd_zoo" or m.startswith("kssd_zoo."))}))
"""


def _kssd_sources():
    return sorted(KSSD_DIR.rglob("*.py"))


def zoo_imports(source, filename="<string>"):
    """``(line, statement)`` of every import of kssd_zoo in ``source`` (any depth, any scope).

    Examples:
        >>> zoo_imports("import os\\ndef f():\\n    from kssd_zoo.spec import x\\n")
        [(3, 'from kssd_zoo.spec import ...')]
    """
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == FORBIDDEN or alias.name.startswith(FORBIDDEN + "."):
                    found.append((node.lineno, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 0 and (module == FORBIDDEN or module.startswith(FORBIDDEN + ".")):
                found.append((node.lineno, f"from {module} import ..."))
        elif isinstance(node, ast.Call):
            # importlib.import_module("kssd_zoo...") / __import__("kssd_zoo...")
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ("import_module", "__import__") and node.args:
                first = node.args[0]
                if (
                    isinstance(first, ast.Constant)
                    and isinstance(first.value, str)
                    and (first.value == FORBIDDEN or first.value.startswith(FORBIDDEN + "."))
                ):
                    found.append((node.lineno, f"{name}({first.value!r})"))
    return sorted(found)


def test_static_no_kssd_zoo_import_anywhere_in_kssd():
    sources = _kssd_sources()
    assert len(sources) > 20, sources  # the walk found the package
    offenders = []
    for path in sources:
        for line, statement in zoo_imports(path.read_text(encoding="utf-8"), str(path)):
            offenders.append(f"{path.relative_to(REPO_ROOT)}:{line}: {statement}")
    assert not offenders, "the kssd library imports kssd_zoo:\n" + "\n".join(offenders)


def test_static_check_sees_lazy_imports():
    source = "def f():\n    if True:\n        import kssd_zoo.weights as w\n    return w\n"
    assert zoo_imports(source) == [(3, "import kssd_zoo.weights")]
    assert zoo_imports("from kssd_zoo import build\n") == [(1, "from kssd_zoo import ...")]
    assert zoo_imports("import importlib\nimportlib.import_module('kssd_zoo.spec')\n") == [
        (2, "import_module('kssd_zoo.spec')")
    ]
    assert zoo_imports("import kssd_zoo_other\nfrom . import kssd_zoo\n") == []
    docstring = 'def f():\n    """Examples:\n\n        >>> import kssd_zoo\n    """\n'
    assert zoo_imports(docstring) == []  # docstring examples are text, not code


def _import_every_kssd_module_without_zoo():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        env=env,
        cwd=str(REPO_ROOT),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_kssd_module_imports_without_kssd_zoo():
    result = _import_every_kssd_module_without_zoo()
    failures = "\n".join(f"{name}:\n{trace}" for name, trace in result["failures"].items())
    assert not result["failures"], "kssd modules that fail without kssd_zoo:\n" + failures
    assert not result["zoo_loaded"], result["zoo_loaded"]
    expected = {
        "kssd." + ".".join(p.relative_to(KSSD_DIR).with_suffix("").parts)
        for p in _kssd_sources()
        if p.name != "__init__.py"
    }
    expected = {name for name in expected if not name.endswith(".__main__")}
    missing = expected - set(result["imported"])
    assert not missing, f"modules the walk did not import: {sorted(missing)}"
