"""Running `fastproc dev` as a user does, for the tests of the dev server and of `init`:
the console script in a folder of the user's, a free port, no FASTPROC_* settings but the
test's, and nothing left running afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support import free_port, wait_for, wait_job

#: The console script, as a user runs it: unlike `python -m`, it does not put the current
#: directory on sys.path by itself.
FASTPROC = str(Path(sys.executable).with_name("fastproc"))
START = 60  # seconds a dev server may take to answer, on a busy machine

def dev_env(**settings: str) -> dict[str, str]:
    """The environment of a user with no FASTPROC_* settings but these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTPROC_")}
    return {**env, "FASTPROC_POLL_DELAY": "0.05", "FASTPROC_CATALOGUE_REFRESH": "0.2",
            **settings}


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (the embedded Valkey, a reloading child...)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        todo += children
    return found


def alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def kill_leftovers(pids: list[int]) -> None:
    """SIGKILL what a failed test left running (the test has asserted on it already)."""
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def answer(base: str, process_id: str, inputs: dict[str, Any] | None = None,
           output: str | None = None) -> str | None:
    """The raw output of a sync execution (of `output` alone, when given), or None while
    the server is not (yet) there."""
    body: dict[str, Any] = {"inputs": inputs or {}}
    if output is not None:
        body["outputs"] = {output: {}}
    try:
        response = httpx.post(f"{base}/processes/{process_id}/execution", timeout=10,
                              json=body)
    except httpx.TransportError:
        return None
    return response.text if response.status_code == 200 else None


@dataclass
class Dev:
    child: subprocess.Popen[bytes]
    url: str
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=20)

    def wait_serving(self, process_id: str) -> None:
        def serving() -> bool:
            assert self.child.poll() is None, f"fastproc dev exited:\n{self.output()}"
            try:
                return httpx.get(f"{self.url}/processes/{process_id}", timeout=2).is_success
            except httpx.TransportError:
                return False

        wait_for(serving, START, f"fastproc dev to serve '{process_id}'")

    def job(self, client: httpx.Client, job_id: str, status: str | None = None
            ) -> dict[str, Any]:
        """The job's statusInfo once it has `status` (default: once it ended)."""
        until = None if status is None else (lambda s: s["status"] == status)
        try:
            return wait_job(client, job_id, timeout=START, until=until)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; fastproc dev said:\n{self.output()}") from None

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        self.child.send_signal(sig)
        return self.child.wait(timeout=START)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def dev_server(cwd: Path, *args: str, **settings: str) -> Iterator[Dev]:
    """`fastproc dev` in `cwd` on a free port; stopped (and anything it left, killed) after."""
    port = free_port()
    log = cwd / f"dev-{port}.log"
    with log.open("wb") as out:
        child = subprocess.Popen([FASTPROC, "dev", "--port", str(port), *args], cwd=cwd,
                                 env=dev_env(**settings), stdout=out, stderr=subprocess.STDOUT)
    try:
        yield Dev(child, f"http://127.0.0.1:{port}", log)
    finally:
        below = descendants(child.pid)
        if child.poll() is None:
            child.terminate()
        try:
            child.wait(timeout=START)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        kill_leftovers(below)
