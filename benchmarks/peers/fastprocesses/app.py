"""The fastprocesses API (the FastAPI app its README builds), with the benchmark processes
registered. Started by launch.py as `uvicorn app:app`, this directory on PYTHONPATH."""

import processes  # noqa: F401  (registers echo, batch_upper and text_stats)
from fastprocesses.api.server import OGCProcessesAPI

app = OGCProcessesAPI().get_app()
