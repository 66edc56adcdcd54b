"""What the client's commands print: a server's text (log lines, job messages, titles,
errors, results) made harmless for the terminal that shows it.

Text from a server is not the client's to pass to a terminal as it came: an escape sequence
in a process's log line can retitle the window, clear the screen or rewrite lines printed
before, and a bidirectional override shows text in another order than it reads. Every
command prints through one `SafeConsole`, which makes each string and each piece of text
it renders `printable`; rich's own styles and cursor moves are not text and pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from fastproc.extras import extra

with extra("client"):
    from rich.console import Console, ConsoleOptions, RenderableType
    from rich.segment import Segment
    from rich.text import Text

#: Whole escape sequences: CSI (colours, cursor moves, clearing), the string ones ending
#: in BEL or ST on the same line (OSC titles and links, DCS, SOS, PM, APC), the short ones.
_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b[\]PX^_][^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[ -/]*[0-~]")
#: What a terminal acts on or cannot print: C0 controls but newline and tab, DEL, C1,
#: bidirectional formatting, lone surrogates (not encodable, so fatal to the write).
_UNPRINTABLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` without escape sequences (formatting, mostly colours: nothing to read), and
    with any other unprintable character shown as `\\u001b`: the way JSON writes it, so a
    JSON document printed stays the same document.

    >>> printable("\\x1b[31mred\\x1b[0m \\x1b]0;title\\x07bell\\x07 \\u202eevil")
    'red bell\\\\u0007 \\\\u202eevil'
    """
    if _UNPRINTABLE.search(text) is None:
        return text
    return _UNPRINTABLE.sub(_escaped, _SEQUENCE.sub("", text))


def _escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match[0]):04x}"


class SafeConsole(Console):
    """A rich console that prints nothing a terminal would act on but its own styling:
    strings are made `printable` before rich reads them (rich drops a bell, and the title
    sequence it ends would leave its text behind), and so is the text of every segment
    rendered, whichever renderable it came from."""

    def render_str(self, text: str, **options: Any) -> Text:
        return super().render_str(printable(text), **options)

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None
               ) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control:
                yield segment
            else:
                text = printable(segment.text)
                yield segment if text is segment.text else Segment(text, segment.style)
