"""`fastproc dev | serve | worker` run a server; `fastproc run | processes | jobs` are a client
of any OGC API - Processes server."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from fastproc.client.commands import COMMANDS as CLIENT_COMMANDS
from fastproc.client.commands import add_commands as add_client_commands
from fastproc.client.commands import run_client
from fastproc.logs import configure_logging
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
        sub.add_argument("--processes", help="comma-separated modules of processes")
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
    if args.command in CLIENT_COMMANDS:
        code = run_client(args)
        if code:
            raise SystemExit(code)
        return
    settings = _settings(args)
    configure_logging(settings)
    from fastproc import serving  # the server stack loads only for server commands

    serving.use_fast_event_loop()
    if args.command == "dev":
        serving.dev(settings)
    elif args.command == "serve":
        serving.serve(settings, args.workers)
    else:
        serving.worker(settings)


if __name__ == "__main__":
    main()
