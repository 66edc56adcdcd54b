"""Inputs given by reference (`{"href": ...}`): fetched by the worker, then validated.

A fetch is bounded (time, size, redirects) and every URL on the way, redirects included,
obeys the address rules of `fastproc.net`. What arrives is read as the input's schema says:
bytes for a binary string, text for a string, JSON for anything else.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson

from fastproc.net import AddressNotAllowed, check_url
from fastproc.ogc.exceptions import InvalidParameterValue
from fastproc.ogc.inputs import InputValidator, is_reference
from fastproc.ogc.models import ProcessDescription
from fastproc.settings import Settings

MAX_REDIRECTS = 5


async def fetch_bytes(client: httpx.AsyncClient, url: str, settings: Settings) -> bytes:
    for _ in range(MAX_REDIRECTS + 1):
        await check_url(url, settings)
        async with client.stream("GET", url) as response:
            if response.is_redirect:
                url = str(response.url.join(response.headers["location"]))
                continue
            response.raise_for_status()
            declared = int(response.headers.get("content-length") or 0)
            if declared > settings.fetch_max_bytes:
                raise ValueError(f"it is {declared} bytes, over {settings.fetch_max_bytes} bytes")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > settings.fetch_max_bytes:
                    raise ValueError(f"it is over {settings.fetch_max_bytes} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    raise ValueError(f"more than {MAX_REDIRECTS} redirects")


def _as_schema_says(data: bytes, schema: dict[str, Any]) -> Any:
    if schema.get("type") == "string" and (
        schema.get("format") == "binary" or "contentMediaType" in schema
    ):
        return {"value": base64.b64encode(data).decode("ascii"), "encoding": "base64"}
    if schema.get("type") == "string":
        return data.decode("utf-8")
    return orjson.loads(data)


async def resolve_references(
    inputs: dict[str, Any], description: ProcessDescription, validator: InputValidator,
    settings: Settings,
) -> dict[str, Any]:
    """The inputs with every reference replaced by its validated content."""
    resolved = dict(inputs)
    async with httpx.AsyncClient(timeout=settings.fetch_timeout, follow_redirects=False) as c:
        for name, value in inputs.items():
            many = isinstance(value, list)
            occurrences = []
            for occurrence in value if many else [value]:
                if is_reference(occurrence):
                    occurrence = await _fetch_one(c, name, str(occurrence["href"]),
                                                  description, validator, settings)
                occurrences.append(occurrence)
            resolved[name] = occurrences if many else occurrences[0]
    return resolved


async def _fetch_one(client: httpx.AsyncClient, name: str, href: str,
                     description: ProcessDescription, validator: InputValidator,
                     settings: Settings) -> Any:
    try:
        data = await fetch_bytes(client, href, settings)
        value = _as_schema_says(data, description.inputs[name].schema_)
    except (httpx.HTTPError, AddressNotAllowed, ValueError) as exc:
        reason = f"{type(exc).__name__}: {exc}" if isinstance(exc, httpx.HTTPError) else str(exc)
        raise InvalidParameterValue(f"input '{name}': cannot use {href}: {reason}") from exc
    validator.checks[name].check_occurrence(value)
    return value
