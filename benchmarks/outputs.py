"""`python -m benchmarks.outputs`: a large output (1 GiB by default) streamed by a process
(`stream-bytes` of `tests.output_processes`, an async iterator of bytes) into the output
store (a local directory), then downloaded by a client through the API.

Reports the growth of the peak RSS (VmHWM) of the worker and of the API over their RSS
before the job, the growth of Valkey's `used_memory`, the download throughput against a
plain read of the same file from the local disk, and whether the sha256 of what was
downloaded matches. `--no-store` runs the same without `FASTPROC_OUTPUT_STORE`: the output
then has to fit in Redis, under `FASTPROC_MAX_RESULT_BYTES`."""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.stack import fastproc_stack, redis_server

MiB = 1024 * 1024


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def _read_file(path: Path) -> tuple[float, str]:
    digest = hashlib.sha256()
    started = time.perf_counter()
    with path.open("rb") as handle:
        while chunk := handle.read(MiB):
            digest.update(chunk)
    return time.perf_counter() - started, digest.hexdigest()


def run(size: int, store: bool) -> dict[str, Any]:
    outputs = Path(tempfile.mkdtemp(prefix="fastproc-outputs-"))
    env = {"FASTPROC_PROCESSES": "tests.output_processes", "FASTPROC_JOB_TIMEOUT": "3600"}
    if store:
        env["FASTPROC_OUTPUT_STORE"] = outputs.as_uri()
    with redis_server(None) as url, fastproc_stack(url, env=env) as stack:
        r = stack.redis()
        assert stack.api is not None
        worker, api = stack.workers[0].pid, stack.api.pid
        before = {"worker": _kib(worker, "VmRSS"), "api": _kib(api, "VmRSS"),
                  "valkey": int(r.info("memory")["used_memory"])}
        with httpx.Client(base_url=stack.url, timeout=3600) as client:
            created = client.post("/processes/stream-bytes/execution",
                                  json={"inputs": {"size": size}},
                                  headers={"Prefer": "respond-async"})
            job = created.json()["jobID"]
            while (status := client.get(f"/jobs/{job}").json())["status"] in (
                    "accepted", "running"):
                time.sleep(0.5)
            figures: dict[str, Any] = {"size": size, "store": store,
                                       "status": status["status"],
                                       "message": status.get("message")}
            if status["status"] != "successful":
                return figures
            valkey = int(r.info("memory")["used_memory"])
            digest = hashlib.sha256()
            started = time.perf_counter()
            with client.stream("GET", f"/jobs/{job}/results/result") as response:
                for chunk in response.iter_bytes(MiB):
                    digest.update(chunk)
            took = time.perf_counter() - started
        objects = list((outputs / "outputs").glob("*"))
        figures.update({
            "worker_peak_growth_mib": (_kib(worker, "VmHWM") - before["worker"]) / 1024,
            "api_peak_growth_mib": (_kib(api, "VmHWM") - before["api"]) / 1024,
            "valkey_growth_kib": (valkey - before["valkey"]) / 1024,
            "download_mib_s": size / MiB / took,
        })
        expected = hashlib.sha256()
        if objects:
            disk_took, on_disk = _read_file(objects[0])
            figures["disk_read_mib_s"] = size / MiB / disk_took
            expected_hex = on_disk
        else:
            from tests.output_processes import pattern
            expected.update(pattern(size))
            expected_hex = expected.hexdigest()
        figures["sha256_matches"] = digest.hexdigest() == expected_hex
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.outputs", description=__doc__)
    parser.add_argument("--mib", type=int, default=1024, help="size of the output, MiB")
    parser.add_argument("--no-store", action="store_true",
                        help="without FASTPROC_OUTPUT_STORE (every output in Redis)")
    args = parser.parse_args()
    figures = run(args.mib * MiB, store=not args.no_store)
    for name, value in figures.items():
        print(f"{name}: {value:.1f}" if isinstance(value, float) else f"{name}: {value}")
    if figures.get("status") == "successful" and not args.no_store:
        assert figures["worker_peak_growth_mib"] < 64, figures
        assert figures["api_peak_growth_mib"] < 64, figures
        assert figures["valkey_growth_kib"] < 1024, figures
        assert figures["sha256_matches"], figures


if __name__ == "__main__":
    main()
