"""The package's shape, as docs/architecture.md draws it: the import-linter contracts in
pyproject.toml hold (layers, no cycles), and every module imports on its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import fastproc

PACKAGE = Path(fastproc.__file__).parent
ROOT = PACKAGE.parent


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_the_layer_and_cycle_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout, run.stdout[-2000:]


def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    """Each module imported with none of fastproc loaded before it: an import that works
    only after another module was loaded first would fail here."""
    script = (
        "import importlib, sys\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] == 'fastproc']:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{name}: {type(exc).__name__}: {exc}')\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    modules = _modules()
    assert len(modules) > 100, modules
    run = subprocess.run([sys.executable, "-c", script, *modules], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
