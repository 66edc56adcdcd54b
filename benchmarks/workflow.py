"""`python -m benchmarks.workflow`: what a workflow node costs, against a fan-out part.

A workflow of `--leaves` (default 100) `echo` nodes whose values are the words of one
`batch_upper` (so 101 processes: the leaves, then the root), executed synchronously end to
end; then `batch_upper` alone over as many words with one part per word (the fan-out
join); a fan-out of `--node-parts` (default 200) parts as a workflow node (`batch_upper`
over one word a part, nested in a `batch_upper` of one part) against the same fan-out on its
own, to show what being a node costs a fan-out (its parts run as tasks of their own in both);
and one plain `echo`, the floor every job pays. Every run uses fresh words, so no
result comes from the cache. Each is repeated `--runs` times; the medians are printed:
nodes (parts) per second, and the overhead per node (part) in ms once the floor is taken
off: (time - floor) / leaves.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from benchmarks.stack import fastproc_stack, redis_server


def workflow(words: list[str]) -> dict[str, Any]:
    leaves = [{"process": "echo", "inputs": {"value": word}} for word in words]
    return {"inputs": {"words": leaves, "chunk": len(words)}, "response": "document"}


def fanout(words: list[str]) -> dict[str, Any]:
    return {"inputs": {"words": words, "chunk": 1}, "response": "document"}


def fanout_node(words: list[str]) -> dict[str, Any]:
    node = {"process": "batch_upper", "inputs": {"words": words, "chunk": 1},
            "outputs": {"words": {}}}
    return {"inputs": {"words": node, "chunk": len(words)}, "response": "document"}


def _timed(client: httpx.Client, path: str, body: dict[str, Any],
           expected: Callable[[Any], bool]) -> float:
    started = time.perf_counter()
    response = client.post(path, json=body)
    seconds = time.perf_counter() - started
    response.raise_for_status()
    if response.status_code != 200 or not expected(response.json()):
        raise RuntimeError(f"{path} answered {response.status_code} {response.text[:300]}")
    return seconds


def _words(n: int) -> list[str]:
    run = uuid.uuid4().hex[:8]
    return [f"w{i}-{run}" for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workflow", description=__doc__)
    parser.add_argument("--leaves", type=int, default=100)
    parser.add_argument("--node-parts", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    n = args.leaves
    env = {"FASTPROC_PROCESSES": "workers.examples", "FASTPROC_POLL_DELAY": "0.5"}
    with redis_server(args.redis_url) as url, fastproc_stack(
            url, workers=args.workers, env=env) as stack, httpx.Client(
            base_url=stack.url, timeout=120) as client:
        def upper(words: list[str]) -> Callable[[Any], bool]:
            return lambda doc: bool(doc == {"words": [w.upper() for w in words]})

        times: dict[str, list[float]] = {"floor": [], "workflow": [], "fanout": [],
                                         "node": [], "alone": []}
        for run in range(args.runs + 1):  # the first run warms up, and is not counted
            words = _words(n)
            floor = _timed(client, "/processes/echo/execution",
                           {"inputs": {"value": words[0]}, "outputs": {"value": {}},
                            "response": "document"},
                           lambda doc, w=words[0]: bool(doc == {"value": w}))
            flow = _timed(client, "/processes/batch_upper/execution", workflow(words),
                          upper(words))
            words = _words(n)
            fan = _timed(client, "/processes/batch_upper/execution", fanout(words),
                         upper(words))
            words = _words(args.node_parts)
            node = _timed(client, "/processes/batch_upper/execution", fanout_node(words),
                          upper(words))
            words = _words(args.node_parts)
            alone = _timed(client, "/processes/batch_upper/execution", fanout(words),
                           upper(words))
            if run:
                times["floor"].append(floor)
                times["workflow"].append(flow)
                times["fanout"].append(fan)
                times["node"].append(node)
                times["alone"].append(alone)
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"{args.workers} worker(s), {args.runs} runs, medians")
    print(f"{'':<34}{'seconds':>9}{'per second':>12}{'overhead ms':>13}")
    print(f"{'one echo job (the floor)':<34}{median['floor']:>9.3f}")
    parts = args.node_parts
    for name, label, count, each in (
            ("workflow", f"workflow: {n} echo nodes + root", n + 1, n),
            ("fanout", f"fan-out: {n} parts + merge", n, n),
            ("node", f"fan-out node: {parts} parts + root", parts, parts),
            ("alone", f"fan-out alone: {parts} parts", parts, parts)):
        seconds = median[name]
        overhead = (seconds - median["floor"]) / each * 1000
        print(f"{label:<34}{seconds:>9.3f}{count / seconds:>12.1f}{overhead:>13.2f}")


if __name__ == "__main__":
    main()
