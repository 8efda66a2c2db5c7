"""Download names: RFC 6266 `Content-Disposition` headers that work for any file name.

HTTP headers are Latin-1 on the wire, so a slide called `ünï 日本.svs` cannot be put into
`filename="..."` as it is (eventlet drops the connection), and a `"` in a name ends the
quoted string early. Every file the server sends as an attachment goes through
`attachment`: an ASCII `filename="..."` for old clients, and the exact name as
`filename*=UTF-8''<percent-encoded>` (RFC 5987), which every current browser prefers.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from flask import Response

# Never part of a file name: control characters and path separators.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f/\\]+")
# Left out of the ASCII fallback: quotes and backslashes (they end or escape its quoted
# string), `%` (some clients percent-decode it), `;` and `,` (naive parsers split there).
_FALLBACK_UNSAFE = re.compile(r"[^A-Za-z0-9 !#$&'()+.=@\[\]^_`{}~-]+")
# RFC 5987 attr-char: what may stay unencoded in `filename*`.
_ATTR_CHARS = "!#$&+-.^_`|~"
FALLBACK_NAME = "download"


def clean_filename(name: str) -> str:
    """`name` without control characters or path separators (each run becomes `_`)."""
    cleaned = _UNSAFE.sub("_", unicodedata.normalize("NFC", str(name))).strip()
    return cleaned.lstrip(".") or FALLBACK_NAME


def ascii_filename(name: str) -> str:
    """An ASCII stand-in for `name`: accents dropped, other characters as `_`, same suffix."""
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    simple = _FALLBACK_UNSAFE.sub("_", bare).strip(" _")
    stem, dot, suffix = name.rpartition(".")
    if not simple or simple.startswith("."):
        ascii_suffix = _FALLBACK_UNSAFE.sub("", suffix) if dot else ""
        return FALLBACK_NAME + (f".{ascii_suffix}" if ascii_suffix else "")
    return simple


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """The `Content-Disposition` value for sending a file called `filename` (RFC 6266)."""
    name = clean_filename(filename)
    fallback = ascii_filename(name)
    encoded = quote(name, safe=_ATTR_CHARS)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def attachment(response: Response, filename: str) -> Response:
    """Mark `response` as a download called `filename`; returns it."""
    response.headers["Content-Disposition"] = content_disposition(filename)
    return response
