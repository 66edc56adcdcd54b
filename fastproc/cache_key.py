"""The result cache of deterministic processes: the canonical key of a request.

Entries are read and written by the jobs service only (`fastproc.store.cache_entries`): the
worker writes one in the same atomic step that marks a job successful, so a failed job can
never be cached.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import orjson

from fastproc.ogc.inputs import references

__all__ = ["cache_digest", "is_cacheable"]


def cache_digest(
    process_id: str,
    version: str,
    inputs: dict[str, Any],
    outputs: dict[str, Any] | None,
    response: str,
    owner: str | None = None,
) -> str:
    """sha256 of the canonical JSON (sorted keys) of what determines a result.

    Inputs are taken as received, so the key never depends on processed data; a new
    process version changes every key. With access control on, the owner is part of the
    key: a hit would otherwise tell one caller what another submitted.
    """
    document: dict[str, Any] = {"process": process_id, "version": version, "inputs": inputs,
                                "outputs": outputs, "response": response}
    if owner is not None:
        document["owner"] = owner
    canonical = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def is_cacheable(deterministic: bool, uncached_inputs: Iterable[str],
                 inputs: dict[str, Any]) -> bool:
    """Whether a run may be answered from (and its result written to) the cache, for an
    execute request and a workflow's node alike: a deterministic process, inputs given by
    value (a reference may change behind its URL), none of the inputs the process names
    as wanting a computed run (e.g. a pause)."""
    return (deterministic and not references(inputs)
            and not set(uncached_inputs) & inputs.keys())
