"""`fastproc init NAME`: a small project to start from — a module with one typed process, a
test of it with `fastproc.testing`, and a README with the commands to serve and test it.

The files are templates in `templates/` (`string.Template`: `$name`, `$module`).
"""

from __future__ import annotations

import importlib.util
import keyword
import re
from pathlib import Path
from string import Template

TEMPLATES = Path(__file__).with_name("templates")

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


class ScaffoldError(ValueError):
    """The project cannot be created (the name is unusable or already taken)."""


def create_project(target: Path) -> list[Path]:
    """Write a new project in `target` (which must not exist); returns the files written.

    >>> create_project(Path("wordcount"))  # doctest: +SKIP
    [PosixPath('wordcount/wordcount.py'), PosixPath('wordcount/tests/test_wordcount.py'), ...]
    """
    name = target.name
    module = module_name(name)
    files = {
        target / f"{module}.py": "module.py.tmpl",
        target / "tests" / f"test_{module}.py": "test_module.py.tmpl",
        target / "README.md": "README.md.tmpl",
        target / "pyproject.toml": "pyproject.toml.tmpl",
        target / ".gitignore": "gitignore.tmpl",
    }
    try:
        target.mkdir(parents=True)  # fails if it exists: nothing is ever overwritten
    except FileExistsError:
        raise ScaffoldError(f"{target} already exists; choose another name") from None
    (target / "tests").mkdir()
    for path, template in files.items():
        text = Template((TEMPLATES / template).read_text()).substitute(name=name,
                                                                        module=module)
        path.write_text(text)
    return list(files)


def module_name(name: str) -> str:
    """The processes module of project `name`: its name as an identifier, refused when it
    would hide a module Python already has (`json.py` in the current directory would
    shadow the standard library for the whole server)."""
    if not _NAME.fullmatch(name):
        raise ScaffoldError(f"'{name}' is not a usable project name: use letters, digits, "
                            "'-' and '_', starting with a letter")
    module = name.replace("-", "_").lower()
    if keyword.iskeyword(module) or importlib.util.find_spec(module) is not None:
        raise ScaffoldError(f"'{module}' is already the name of a Python module; "
                            "choose another project name")
    return module
