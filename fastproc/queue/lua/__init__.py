"""The Lua scripts of the queue and the process catalogue, one `.lua` file each, read here
and nowhere else. Each file documents its KEYS and ARGV at the top."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def lua(name: str) -> str:
    """The source of `<name>.lua` in this package (read once per process)."""
    return files(__name__).joinpath(f"{name}.lua").read_text(encoding="utf-8")
