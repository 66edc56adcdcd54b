"""The Lua scripts of the jobs package, one `.lua` file each in `lua/`, read here and nowhere
else. Each file documents its KEYS and ARGV at the top; each makes one step on a job's keys
atomic (compare, write, publish), so no reader ever sees half a change.

Facts the scripts share with Python are defined in Python once and handed to every script
in a preamble of Lua locals, built here:

- `STATUS`: the job states by name (`STATUS.RUNNING == 'running'`), from `StatusCode`;
- `TERMINAL`: the set of states a job never leaves (`TERMINAL[s]`), from `TERMINAL_STATES`;
- `DURATION_BUCKETS`: the upper bounds of the run-time histogram, from `DURATION_BUCKETS`;
- `ACTIVITY`: the dashboard's bucket width, bucket TTL and failures kept
  (`fastproc.store.activity`).

A step two scripts make is written once, as a Lua function in a library file of its own
(`lua/begin_step.lua`), placed after the preamble of each script that uses it (`USES`) —
including a script of another package, such as the worker's claim (`compose`).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from fastproc.ogc.models import TERMINAL_STATES, StatusCode
from fastproc.store.activity import lua_locals as activity_locals

#: Upper bounds (seconds) of the job run-time histogram (`transition.lua`, /metrics).
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 1800)


def _lua_table(entries: list[str]) -> str:
    return "{" + ", ".join(entries) + "}"


#: Seconds a job index outlives the records in it; each process renews an index's TTL at
#: most once in this long (`JobStore`), and `submit.lua` gives one to an index it re-creates.
INDEX_RENEWAL = 60


def preamble() -> str:
    """The Lua locals every script starts with (see the module docstring)."""
    states = _lua_table([f"{s.name} = '{s.value}'" for s in StatusCode])
    terminal = _lua_table([f"['{s.value}'] = true" for s in sorted(TERMINAL_STATES)])
    buckets = _lua_table([repr(b) for b in DURATION_BUCKETS])
    return (f"local STATUS = {states}\nlocal TERMINAL = {terminal}\n"
            f"local DURATION_BUCKETS = {buckets}\nlocal INDEX_RENEWAL = {INDEX_RENEWAL}\n"
            + activity_locals())


#: The library files (`lua/<library>.lua`, local functions) each script calls.
USES: dict[str, tuple[str, ...]] = {"begin": ("begin_step",), "claim": ("begin_step",)}


@cache
def plain(name: str) -> str:
    """`lua/<name>.lua` as written: for the scripts that need no preamble (the catalogue's)."""
    return files(__package__ or "fastproc.store").joinpath("lua", f"{name}.lua").read_text(
        encoding="utf-8")


def _read(name: str) -> str:
    return plain(name)


def compose(text: str, uses: tuple[str, ...] = ()) -> str:
    """A script: the preamble, the libraries it uses, then its own `text`."""
    return preamble() + "".join(_read(library) for library in uses) + text


@cache
def source(name: str) -> str:
    """`lua/<name>.lua` after the preamble and its libraries (read once per process)."""
    return compose(_read(name), USES.get(name, ()))


def register(redis: Redis, name: str) -> AsyncScript:
    """`lua/<name>.lua` on this connection (EVALSHA, loaded on first use)."""
    return redis.register_script(source(name))
