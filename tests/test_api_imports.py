"""The API enqueues jobs but never loads worker code: importing the app leaves arq out."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import ROOT

_PROBE = """
import json, sys
import fastproc.api.app
app = fastproc.api.app.create_app
print(json.dumps(sorted(m for m in sys.modules
                        if m == 'arq' or m.startswith('arq.') or m == 'fastproc.worker.arq_loop'
                        or m in ('fastproc.worker.launch', 'fastproc.worker.tasks'))))
"""


def test_importing_the_api_loads_neither_arq_nor_the_worker() -> None:
    # A fresh interpreter: this test session has long imported arq for its own workers.
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert "arq.worker" not in loaded and "arq" not in loaded, loaded
    assert loaded == [], f"the API loaded worker code: {loaded}"
