"""`python -m benchmarks.memory`: peak RSS of the API and the worker while one large result
(default 50 MB) is produced, stored and fetched raw, by reference and as a JSON document.

What to expect: raw and by-reference responses move the bytes once through each process
(the output is stored apart, never base64-encoded); a JSON document by value has to carry
base64, so it costs about two extra copies in the API."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import httpx

from benchmarks.measure import reset_peak_rss
from benchmarks.stack import fastproc_stack, redis_server, usage


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    parser.add_argument("--megabytes", type=float, default=50)
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    env = {"FASTPROC_PROCESSES": "workers.examples,benchmarks.bench_processes"}
    with redis_server(args.redis_url) as url, fastproc_stack(url, env=env) as stack:
        assert stack.api is not None
        pids = {"api": stack.api.pid, "worker": stack.workers[0].pid}
        with httpx.Client(base_url=stack.url, timeout=120) as client:
            client.post("/processes/echo/execution", json={"inputs": {"value": "warm"}})
            print(f"result of {args.megabytes:g} MB")
            print(f"{'step':<34}{'api base MB':>12}{'api peak':>10}{'worker base':>12}"
                  f"{'worker peak':>12}{'seconds':>9}")
            job_id = ""
            for step in ("sync raw (compute + fetch)", "fetch by reference",
                         "fetch as JSON document"):
                base = {name: _rss_mb(pid) for name, pid in pids.items()}
                for pid in pids.values():
                    reset_peak_rss(pid)
                started = time.perf_counter()
                received = 0
                if step.startswith("sync"):
                    request = client.build_request(
                        "POST", "/processes/big_blob/execution",
                        json={"inputs": {"megabytes": args.megabytes}})
                else:
                    path = (f"/jobs/{job_id}/results/data" if "reference" in step
                            else f"/jobs/{job_id}/results")
                    request = client.build_request("GET", path)
                    if "document" in step:
                        request = client.build_request(
                            "POST", "/processes/big_blob/execution",
                            json={"inputs": {"megabytes": args.megabytes},
                                  "response": "document"})
                response = client.send(request, stream=True)
                try:
                    response.raise_for_status()
                    if step.startswith("sync"):
                        link = response.headers.get("link", "")
                        job_id = link.split("/jobs/")[1].split(">")[0]
                    for chunk in response.iter_bytes():
                        received += len(chunk)
                finally:
                    response.close()
                seconds = time.perf_counter() - started
                peaks = {name: usage(pid).peak_rss_mb for name, pid in pids.items()}
                print(f"{step:<34}{base['api']:>12.1f}{peaks['api']:>10.1f}"
                      f"{base['worker']:>12.1f}{peaks['worker']:>12.1f}{seconds:>9.2f}"
                      f"   ({received / 1024 / 1024:.1f} MB received)")


if __name__ == "__main__":
    main()
