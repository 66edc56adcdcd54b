"""`fastproc dev | serve | worker` run a server; `fastproc run | processes | jobs` are a client
of any OGC API - Processes server; `fastproc init` starts a project of processes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastproc.client.commands import COMMANDS as CLIENT_COMMANDS
from fastproc.client.commands import add_commands as add_client_commands
from fastproc.client.commands import run_client
from fastproc.logging_setup import configure_logging
from fastproc.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastproc", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser(
        "dev", help="API + worker in one process; embedded Valkey unless FASTPROC_REDIS_URL")
    serve = commands.add_parser("serve", help="the API only (any number of replicas)")
    for sub in (dev, serve):
        sub.add_argument("--host", help="bind address (default 127.0.0.1)")
        sub.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    worker = commands.add_parser("worker", help="an arq worker running processes")
    worker.add_argument("--queue", help="queue to serve (default FASTPROC_QUEUE_NAME)")
    for sub in (dev, worker):
        sub.add_argument("--processes", help="comma-separated modules of processes "
                                             "(the current directory is importable)")
    dev.add_argument("--reload", action="store_true",
                     help="restart API and worker when a Python file changes")
    data = dev.add_mutually_exclusive_group()
    data.add_argument("--data-dir", type=Path,
                      help="where the embedded Valkey keeps its data, in an append-only file "
                           "(default: .fastproc in the current directory)")
    data.add_argument("--ephemeral", action="store_true",
                      help="keep the embedded Valkey's data in a temporary directory, "
                           "removed at exit")
    dev.add_argument("--supervisor", type=int, help=argparse.SUPPRESS)  # set by --reload
    init = commands.add_parser("init", help="create a project: a module with a process, "
                                             "its test and a README")
    init.add_argument("name", type=Path, help="folder to create (it must not exist)")
    add_client_commands(commands)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name, field in (("host", "host"), ("port", "port"), ("queue", "queue_name"),
                        ("processes", "processes")):
        value = getattr(args, name, None)
        if value is not None:
            overrides[field] = value
    return Settings(**overrides)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "init":
        code = _init(args.name)
    elif args.command in CLIENT_COMMANDS:
        code = run_client(args)
    else:
        code = _run_server(args)
    if code:
        raise SystemExit(code)


def _init(target: Path) -> int:
    from fastproc.scaffold import ScaffoldError, create_project, module_name

    try:
        written = create_project(target)
    except ScaffoldError as exc:
        print(f"fastproc init: {exc}", file=sys.stderr)
        return 1
    print(f"created {target}/: " + ", ".join(str(p.relative_to(target)) for p in written))
    print(f"next:\n  cd {target}\n  fastproc dev --processes {module_name(target.name)} "
          "--reload\n  python -m pytest")
    return 0


def _run_server(args: argparse.Namespace) -> int:
    """dev, serve or worker; a configuration error is one line on stderr, not a traceback."""
    # Processes are modules next to the user, as for uvicorn and arq: `fastproc` started
    # from its console script would otherwise not see the current directory.
    if sys.path[0] not in ("", os.getcwd()):
        sys.path.insert(0, os.getcwd())
    settings = _settings(args)
    configure_logging(settings)
    from fastproc import serving  # the server stack loads only for server commands
    from fastproc.authoring.registry import DuplicateProcessError, ProcessModuleError
    from fastproc.embedded import EmbeddedValkeyError
    from fastproc.extras import MissingExtra

    serving.use_fast_event_loop()
    try:
        if args.command == "dev":
            from fastproc.devserver import DEFAULT_DATA_DIR, DevOptions, dev

            data_dir = None if args.ephemeral else args.data_dir or DEFAULT_DATA_DIR
            return dev(settings, DevOptions(data_dir=data_dir, reload=args.reload,
                                            supervisor=args.supervisor))
        if args.command == "serve":
            serving.serve(settings, args.workers)
        else:
            serving.worker(settings)
    except (ProcessModuleError, DuplicateProcessError) as exc:
        print(f"fastproc {args.command}: {exc}", file=sys.stderr)
        return 2
    except (EmbeddedValkeyError, MissingExtra) as exc:
        print(f"fastproc {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the server took over the signals
        return 0
    return 0


if __name__ == "__main__":
    main()
