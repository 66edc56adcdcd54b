"""FastAPI's native OpenTelemetry runs only when `FASTPROC_OTEL` asks for it: otherwise
FastAPI would ask OpenTelemetry, on every request, whether an SDK is configured. Each case
runs in a process of its own: a tracer provider is set once per process."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from fastapi.testclient import TestClient
from opentelemetry import trace

tracers = []

class Recording(trace.TracerProvider):
    def get_tracer(self, *args, **kwargs):
        tracers.append(args)
        return trace.NoOpTracer()

trace.set_tracer_provider(Recording())
from fastproc.api.app import create_app
from fastproc.settings import Settings

app = create_app(Settings(redis_url=sys.argv[1], otel=sys.argv[2] == "on"))
with TestClient(app, base_url="http://localhost") as client:
    assert client.get("/conformance").status_code == 200
print(len(tracers))
"""


@pytest.mark.parametrize(("otel", "traced"), [("on", True), ("off", False)])
def test_requests_are_traced_only_when_asked(redis_url: str, otel: str, traced: bool) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, redis_url, otel], capture_output=True,
                          text=True, timeout=120, check=True)
    assert (int(done.stdout.strip().splitlines()[-1]) > 0) is traced, done.stderr[-2000:]
