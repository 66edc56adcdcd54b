"""fastprocesses 0.24.1 as a benchmark peer: its own Python 3.12 virtualenv (setup.sh), the
example processes (processes.py, app.py) and the launcher (launch.py).

processes.py and app.py run under that virtualenv, never under fastproc's interpreter.
"""
