"""The README is the front door: every example in it runs as pasted, against a real server,
and its configuration table and test command stay true.

Each ```python block is written to a module of its own (named by a `# name.py` first line,
or `readme_block_N`); a worker loads them all and each process they define is executed over
HTTP. A block named `test_*.py` is run under pytest. The curl and `fastproc` command
examples run as shell commands against a server of the example processes, with its URL in
place of http://127.0.0.1:8000.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from fastproc.settings import Settings
from tests.support import ROOT, Processes, Stack, submit_async, wait_job

README = (ROOT / "README.md").read_text()
QUICKSTART_URL = "http://127.0.0.1:8000"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FILE_NAME = re.compile(r"#\s*([a-z_][a-z0-9_]*)\.py\s*$")

#: Executions of every process the README's Python blocks define: id, inputs, outputs.
README_RUNS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("add", {"a": 1, "b": 2}, {"sum": 3}),
    ("sleep", {"seconds": 0.05}, {"slept": 0.05}),
    ("multiply", {"x": 6, "y": 7}, {"product": 42}),
    ("batch_upper", {"words": ["alpha", "beta", "gamma"], "chunk": 2},
     {"words": ["ALPHA", "BETA", "GAMMA"]}),
    ("batch_upper", {"words": ["no", "chunk"]}, {"words": ["NO", "CHUNK"]}),
    ("text_stats", {"text": "the cat and the hat"},
     {"word_count": 5, "char_count": 19, "unique_words": ["and", "cat", "hat", "the"]}),
    ("tiles", {"count": 2}, {"result": {
        "value": base64.b64encode(bytes([0]) * 65536 + bytes([1]) * 65536).decode(),
        "encoding": "base64", "mediaType": "application/octet-stream"}}),
]


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, re.DOTALL | re.MULTILINE)


def section(title: str) -> str:
    return README[README.index(f"\n{title}\n") + 1:].split("\n## ", 1)[0]


@dataclass(frozen=True)
class Examples:
    """The README's Python blocks, written out as modules in `directory`."""

    directory: Path
    modules: list[str]
    tests: list[Path]

    def env(self) -> dict[str, str]:
        return {"PYTHONPATH": os.pathsep.join(
            [str(self.directory), *filter(None, [os.environ.get("PYTHONPATH")])])}


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Examples:
    directory = tmp_path_factory.mktemp("readme")
    modules: list[str] = []
    tests: list[Path] = []
    for index, block in enumerate(code_blocks("python")):
        named = _FILE_NAME.match(block.splitlines()[0])
        name = named.group(1) if named else f"readme_block_{index}"
        path = directory / f"{name}.py"
        assert not path.exists(), f"two README blocks are both {path.name}"
        path.write_text(block)
        (tests if name.startswith("test_") else modules).append(path)
    return Examples(directory, [p.stem for p in modules], tests)


@pytest.fixture(scope="module")
def readme_stack(procs: Processes, r: redis.Redis, key_prefix: str,
                 examples: Examples) -> Stack:
    """A worker that loads every module of the README (it exits if one fails to import)."""
    return procs.stack(r, key_prefix, FASTPROC_PROCESSES=",".join(examples.modules),
                       **examples.env())


@pytest.fixture(scope="module")
def examples_stack(procs: Processes, r: redis.Redis, key_prefix: str) -> Stack:
    """What `fastproc dev` serves: the example processes alone."""
    return procs.stack(r, key_prefix, FASTPROC_PROCESSES="workers.examples")


def served_ids(stack: Stack) -> set[str]:
    with stack.client() as client:
        listing = client.get("/processes", params={"limit": 1000}).json()
    return {p["id"] for p in listing["processes"]}


def test_every_process_the_readme_defines_runs_over_http(readme_stack: Stack) -> None:
    assert served_ids(readme_stack) == {pid for pid, _, _ in README_RUNS}
    with readme_stack.client() as client:
        for process_id, inputs, outputs in README_RUNS:
            job = submit_async(client, process_id, inputs, response="document")
            status = wait_job(client, job)
            assert status["status"] == "successful", (process_id, status)
            assert client.get(f"/jobs/{job}/results").json() == outputs, process_id


def test_readme_test_example_passes_under_pytest(examples: Examples) -> None:
    assert [t.name for t in examples.tests] == ["test_my_processes.py"]
    test = examples.tests[0]
    defined = len(re.findall(r"^async def test_", test.read_text(), re.MULTILINE))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTPROC_")}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test.name],
        cwd=examples.directory, env={**env, **examples.env()}, capture_output=True,
        text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{defined} passed" in run.stdout, run.stdout


def test_example_table_lists_exactly_the_served_example_processes(
        examples_stack: Stack) -> None:
    table = section("## The example processes")
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE))
    assert documented == served_ids(examples_stack)


def shell_commands(program: str) -> list[str]:
    """Every command of the README's bash blocks that starts with `program`, with its
    continuation lines joined."""
    commands: list[str] = []
    for block in code_blocks("bash"):
        for command in block.replace("\\\n", " ").splitlines():
            if command.startswith(f"{program} "):
                commands.append(command)
    return commands


@dataclass
class Shell:
    """Runs README commands against a stack, in a directory of their own."""

    stack: Stack
    cwd: Path
    replacements: dict[str, str]

    def run(self, command: str) -> str:
        for placeholder, value in self.replacements.items():
            command = command.replace(placeholder, value)
        bin_dir = str(Path(sys.executable).parent)
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               "FASTPROC_URL": self.stack.url}
        done = subprocess.run(["bash", "-c", command], cwd=self.cwd, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        return done.stdout


@pytest.fixture
def shell(examples_stack: Stack, tmp_path: Path) -> Iterator[Shell]:
    workflow, = [b for b in code_blocks("json") if '"process": "number_stats"' in b]
    (tmp_path / "flow.json").write_text(workflow)  # the workflow example
    yield Shell(examples_stack, tmp_path, {QUICKSTART_URL: examples_stack.url})


Check = Callable[[str, Shell], object]


def _job_created(out: str, shell: Shell) -> bool:
    location = re.search(r"^location: (\S+)", out, re.MULTILINE | re.IGNORECASE)
    assert out.startswith("HTTP/1.1 201") and location, out
    job = location.group(1).rsplit("/", 1)[1]
    shell.replacements["JOB_ID"] = job
    with shell.stack.client() as client:  # the next commands read its results
        return wait_job(client, job, timeout=60)["status"] == "successful"


#: What each curl example of the README must print; a new example needs a line here.
def _draft_created(out: str, shell: Shell) -> bool:
    location = re.search(r"^location: (\S+)", out, re.MULTILINE | re.IGNORECASE)
    assert out.startswith("HTTP/1.1 201") and location, out
    shell.replacements["DRAFT_ID"] = location.group(1).rsplit("/", 1)[1]
    return '"status":"created"' in out.replace(" ", "")


def _draft_started(out: str, shell: Shell) -> bool:
    assert json.loads(out)["status"] in ("accepted", "running", "successful"), out
    with shell.stack.client() as client:
        return wait_job(client, shell.replacements["DRAFT_ID"], timeout=60)["status"] == \
            "successful"


CURL_CHECKS: dict[str, Check] = {
    r"/processes \|": lambda out, _: '"processes": [' in out,
    r"/processes/echo$": lambda out, _: json.loads(out)["id"] == "echo",
    r"/processes/echo/execution": lambda out, _: out == "hello",
    r"/processes/add/execution .*\{\"inputs\"": lambda out, _: json.loads(out) == {"sum": 3},
    r"-d @flow\.json": lambda out, _: out == "7.0",
    r"/processes/sleep/execution": _job_created,
    r"/jobs +#": lambda out, sh: sh.replacements["JOB_ID"] in {
        j["jobID"] for j in json.loads(out)["jobs"]},
    r"-s \S+/jobs/JOB_ID +#": lambda out, sh: (
        json.loads(out)["jobID"] == sh.replacements["JOB_ID"]),
    r"/jobs/JOB_ID/results": lambda out, _: json.loads(out) == 3,
    r"-X DELETE": lambda out, _: json.loads(out)["status"] == "dismissed",
    r"/processes/batch_upper/execution": lambda out, _: json.loads(out) == {
        "words": ["ALPHA", "BETA", "GAMMA"]},
    r"-X POST \S+/jobs -H": _draft_created,
    r"-X PATCH": lambda out, _: json.loads(out)["status"] == "created",
    r"/jobs/DRAFT_ID/results": _draft_started,
    r"/jobs/DRAFT_ID/definition": lambda out, _: json.loads(out)["inputs"] == {"a": 40, "b": 2},
    r"/jobs/DRAFT_ID/inputs": lambda out, _: json.loads(out)["inputs"] == {"a": 40, "b": 2},
    r"/jobs/DRAFT_ID/prov": lambda out, _: (
        out.startswith("document\n") and "wasAssociatedWith(" in out),
    r"/processes/solid_png/execution": lambda _, sh: (
        (sh.cwd / "square.png").read_bytes().startswith(PNG_SIGNATURE)),
}

BINARY_FILE = b"any bytes \x00\x01\x02"

#: What each `fastproc` command example must print; a new example needs a line here.
CLI_CHECKS: dict[str, Check] = {
    r"^fastproc processes +#": lambda out, sh: all(pid in out for pid in served_ids(sh.stack)),
    r"^fastproc processes echo": lambda out, _: out.startswith("echo 1.0.0: Echo"),
    r"jobs create add a=1 b=2": lambda out, _: "status: created" in out.splitlines(),
    r"run add a=1 b=2": lambda out, _: "sum: 3.0" in out,
    r"run sleep seconds=3": lambda out, _: "slept: 3.0" in out,
    r"run batch_upper": lambda out, _: json.loads(out.split("words:", 1)[1]) == ["A", "B", "C"],
    r"run solid_png .*--output-dir out/": lambda _, sh: (
        (sh.cwd / "out" / "image.png").read_bytes().startswith(PNG_SIGNATURE)),
    r"run byte_stats data=@some.file": lambda out, _: (
        f"size: {len(BINARY_FILE)}" in out and f"checksum: {zlib.crc32(BINARY_FILE)}" in out),
    r"jobs --status running": lambda out, _: "job(s) at" in out,
    r"run echo value=hi .*--json": lambda out, _: json.loads(out)["value"] == "hi",
    r"run --workflow flow\.json": lambda out, _: "sum: 7.0" in out,
}


def run_checked(commands: list[str], checks: dict[str, Check], shell: Shell) -> None:
    used: list[str] = []
    for command in commands:
        matching = [pattern for pattern in checks if re.search(pattern, command)]
        assert len(matching) == 1, f"{command!r} needs one check in this test: {matching}"
        out = shell.run(command)
        assert checks[matching[0]](out, shell), (command, out)
        used.append(matching[0])
    assert sorted(used) == sorted(checks), "a check whose README example is gone"


def test_readme_curl_examples_answer_as_shown(shell: Shell) -> None:
    run_checked(shell_commands("curl"), CURL_CHECKS, shell)


def test_readme_command_line_examples_run(shell: Shell) -> None:
    (shell.cwd / "some.file").write_bytes(BINARY_FILE)
    shell.replacements["https://other-server.example/ogc"] = shell.stack.url
    commands = [c for c in shell_commands("fastproc")
                if c.split()[1] in ("run", "processes", "jobs")]
    run_checked(commands, CLI_CHECKS, shell)


def test_configuration_table_lists_every_setting_and_only_those() -> None:
    table = section("## Configuration")
    documented = set(re.findall(r"^\| `FASTPROC_([A-Z_]+)`", table, re.MULTILINE))
    assert documented == {name.upper() for name in Settings.model_fields}


def test_ci_runs_exactly_the_readme_test_command() -> None:
    command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert command in README
