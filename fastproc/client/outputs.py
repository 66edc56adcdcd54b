"""Results as a person or a script gets them: JSON values printed, files saved.

Whatever a server answered (the results document asked for, or raw bytes where it ignored
`response: document`) becomes one results document `{output id: value}` first, so printing
and saving have one path. Binary outputs (base64, or any media type that is not JSON) are
saved as `<output dir>/<output id>.<extension of the media type>`.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastproc.client.errors import ClientError, UnexpectedAnswer
from fastproc.client.http import Answer, bare_media_type, is_json_media
from fastproc.client.values import OCTET_STREAM
from fastproc.ogc.models import ProcessDescription

#: Name of the one output of a raw answer when the description does not name exactly one.
RESULT = "result"
_QUALIFIED = frozenset({"value", "mediaType", "encoding", "schema"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def results_document(answer: Answer, description: ProcessDescription) -> dict[str, Any]:
    """The results as a document, also from a raw answer of a single output."""
    if answer.is_json:
        try:
            doc = json.loads(answer.content)
        except ValueError as exc:
            raise UnexpectedAnswer(f"the results are not valid JSON: {exc}") from exc
        if isinstance(doc, dict) and (not description.outputs or
                                      set(doc) <= set(description.outputs)):
            return doc
        return {_sole_output(description): doc}
    if not answer.content:
        return {}
    return {_sole_output(description): {
        "value": base64.b64encode(answer.content).decode("ascii"), "encoding": "base64",
        "mediaType": answer.media_type}}


def _sole_output(description: ProcessDescription) -> str:
    return next(iter(description.outputs)) if len(description.outputs) == 1 else RESULT


def show_results(doc: dict[str, Any], output_dir: Path, say: Callable[[str], None]) -> None:
    """Say each output: `name: <pretty JSON>`, `name: <href>`, or `name: saved <path> ...`
    (`say` prints one line, making a server's text safe for the terminal)."""
    for name, value in doc.items():
        if _is_file(value):
            path, size = save_output(name, value, output_dir)
            say(f"{name}: saved {path} ({_media_type(value)}, {size} bytes)")
        elif isinstance(value, dict) and isinstance(value.get("href"), str):
            say(f"{name}: {value['href']}")
        else:
            plain = value["value"] if _is_qualified(value) else value
            say(f"{name}: {json.dumps(plain, indent=2, ensure_ascii=False)}")


def save_output(name: str, value: dict[str, Any], output_dir: Path) -> tuple[Path, int]:
    """Write one binary output; returns its path and size."""
    data = _bytes_of(name, value)
    path = output_dir / f"{_UNSAFE.sub('_', name) or RESULT}{extension(_media_type(value))}"
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise ClientError(f"cannot save output '{name}' to {path}: {exc.strerror or exc}"
                          ) from exc
    return path, len(data)


def extension(media_type: str) -> str:
    """`.png` for `image/png`; `.bin` when the media type has no known extension."""
    return mimetypes.guess_extension(bare_media_type(media_type)) or ".bin"


def _is_qualified(value: Any) -> bool:
    """`{"value": ..., "mediaType": ..., "encoding": ...}`, not a plain object output."""
    return (isinstance(value, dict) and "value" in value and set(value) <= _QUALIFIED
            and ("mediaType" in value or "encoding" in value))


def _media_type(value: dict[str, Any]) -> str:
    return str(value.get("mediaType") or OCTET_STREAM)


def _is_file(value: Any) -> bool:
    if not _is_qualified(value):
        return False
    return value.get("encoding") == "base64" or not is_json_media(_media_type(value))


def _bytes_of(name: str, value: dict[str, Any]) -> bytes:
    content = value["value"]
    if value.get("encoding") == "base64":
        try:
            return base64.b64decode(str(content), validate=True)
        except binascii.Error as exc:
            raise UnexpectedAnswer(f"output '{name}' is not valid base64: {exc}") from exc
    text = content if isinstance(content, str) else json.dumps(content)
    return text.encode()
