"""A stored result document as the results page shows it: each output with its media type,
shown inline when a person can read it (text, JSON, images), linked for download otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastproc.api.html.render import pretty_json
from fastproc.jobs.results import StoredOutput, is_apart, output_bytes
from fastproc.ogc.models import OutputDescription


@dataclass(slots=True)
class OutputView:
    name: str
    title: str
    media_type: str
    href: str
    size: int | None = None
    image: bool = False
    text: str | None = None


def _view(name: str, stored: StoredOutput, title: str, href: str) -> OutputView:
    if is_apart(stored):  # large binary: linked, never loaded to render a page
        media_type = str(stored.get("mediaType") or "application/octet-stream")
        return OutputView(name=name, title=title, media_type=media_type, href=href,
                          size=int(stored.get("size", 0)),
                          image=media_type.lower().startswith("image/"))
    data, media_type = output_bytes(stored)
    bare = media_type.split(";")[0].strip().lower()
    view = OutputView(name=name, title=title, media_type=media_type, href=href)
    if stored.get("encoding") == "base64":
        view.size = len(data)
        view.image = bare.startswith("image/")
        if bare.startswith("text/") or bare.endswith(("+json", "/json", "+xml", "/xml")):
            view.text = data.decode("utf-8", errors="replace")
    elif bare == "application/json":
        view.text = pretty_json(stored.get("value"))
    else:
        view.text = data.decode("utf-8", errors="replace")
    return view


def output_views(stored: Mapping[str, StoredOutput],
                 descriptions: Mapping[str, OutputDescription], job_href: str
                 ) -> list[OutputView]:
    """Views of every stored output; `job_href` is the job's URL (outputs hang below it)."""
    views = []
    for name, output in stored.items():
        described = descriptions.get(name)
        title = (described.title if described else None) or name
        views.append(_view(name, output, title, f"{job_href}/results/{name}"))
    return views
