"""The Lua scripts of the jobs package, one `.lua` file each in `lua/`, read here and nowhere
else. Each file documents its KEYS and ARGV at the top; each makes one step on a job's keys
atomic (compare, write, publish), so no reader ever sees half a change."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

#: Upper bounds (seconds) of the job duration histogram kept by `transition.lua`.
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 1800)


@cache
def source(name: str) -> str:
    """The source of `lua/<name>.lua` (read once per process)."""
    return files("fastproc.jobs").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def register(redis: Redis, name: str) -> AsyncScript:
    """`lua/<name>.lua` on this connection (EVALSHA, loaded on first use)."""
    return redis.register_script(source(name))
