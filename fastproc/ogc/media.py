"""Media types and link relations, named once; what a media type may look like."""

from __future__ import annotations

import re

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
OPENAPI_JSON = "application/vnd.oai.openapi+json;version=3.0"
HTML = "text/html"
TEXT = "text/plain; charset=utf-8"
MULTIPART_RELATED = "multipart/related"

REL_SELF = "self"
REL_ALTERNATE = "alternate"
REL_SERVICE_DESC = "service-desc"
REL_SERVICE_DOC = "service-doc"
REL_CONFORMANCE = "http://www.opengis.net/def/rel/ogc/1.0/conformance"
REL_PROCESSES = "http://www.opengis.net/def/rel/ogc/1.0/processes"
REL_JOB_LIST = "http://www.opengis.net/def/rel/ogc/1.0/job-list"
REL_EXECUTE = "http://www.opengis.net/def/rel/ogc/1.0/execute"
REL_PROCESS_DESC = "http://www.opengis.net/def/rel/ogc/1.0/process-desc"
REL_RESULTS = "http://www.opengis.net/def/rel/ogc/1.0/results"
REL_EXCEPTIONS = "http://www.opengis.net/def/rel/ogc/1.0/exceptions"
REL_MONITOR = "monitor"
REL_UP = "up"
REL_NEXT = "next"
REL_PREV = "prev"

#: RFC 9110 `token` (section 5.6.2) and `quoted-string` (5.6.4), without obs-text: only
#: visible ASCII, space and tab, so no media type can carry a line break into a header.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[\t !#-\[\]-~]|\\[\t -~])*"'
_MEDIA_TYPE = re.compile(
    rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*(?:{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))?)*")


def is_media_type(value: str) -> bool:
    """Whether `value` is a media type as RFC 9110 (section 8.3.1) writes one in a
    Content-Type header: `type/subtype`, then `; name=value` parameters.

    >>> is_media_type('text/csv; charset="utf-8"; header=present')
    True
    >>> is_media_type("text/plain\\r\\nSet-Cookie: a=b")
    False
    """
    return _MEDIA_TYPE.fullmatch(value) is not None
