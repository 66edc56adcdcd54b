"""`fastproc init NAME`: a project that serves its process and whose tests pass, as created."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.devserver import FASTPROC, START, answer, dev_env, dev_server


def init(cwd: Path, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FASTPROC, "init", name], cwd=cwd, env=dev_env(),
                          capture_output=True, text=True, timeout=START)


def test_new_project_serves_its_process_and_its_tests_pass(tmp_path: Path) -> None:
    created = init(tmp_path, "demo")
    assert created.returncode == 0, created.stderr
    project = tmp_path / "demo"
    readme = (project / "README.md").read_text()
    assert "fastproc dev --processes demo" in readme
    curls = [line for line in readme.splitlines() if line.startswith("curl")]
    assert curls and all(line.startswith("curl -s ") for line in curls), curls
    with dev_server(project, "--ephemeral", FASTPROC_PROCESSES="demo") as dev:
        dev.wait_serving("count_words")
        assert answer(dev.url, "count_words", {"text": "a bb ccc", "min_length": 2}) == "2"
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                           cwd=project, env=dev_env(), capture_output=True, text=True,
                           timeout=START)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout


def test_init_never_overwrites_an_existing_folder(tmp_path: Path) -> None:
    project = tmp_path / "demo"
    project.mkdir()
    (project / "demo.py").write_text("# mine\n")
    refused = init(tmp_path, "demo")
    assert refused.returncode == 1
    assert "already exists" in refused.stderr
    assert [p.name for p in project.iterdir()] == ["demo.py"]
    assert (project / "demo.py").read_text() == "# mine\n"


def test_init_refuses_a_name_that_would_shadow_a_module(tmp_path: Path) -> None:
    refused = init(tmp_path, "json")
    assert refused.returncode == 1
    assert "'json' is already the name of a Python module" in refused.stderr
    assert not (tmp_path / "json").exists()
