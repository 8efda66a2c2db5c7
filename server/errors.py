"""Errors the user can put right, raised by any layer and never tied to Flask.

`UserError` carries the message the UI shows, an optional hint and the field(s) at fault;
its kinds say what went wrong (`NotFound`, `Conflict`, `TooLarge`; a plain UserError is
bad input). server/api/http.py maps the kinds to HTTP statuses, in that one place, and
turns every other exception into a 500 with an id the server log repeats.

This module also holds the JSON parsing that refuses absurd input (deep nesting, huge
integers) with errors instead of crashes, for HTTP bodies and Socket.IO packets alike.
"""

from __future__ import annotations

import json
import math
from typing import Any


class UserError(Exception):
    """Bad input: `message` for the user, `hint` on what to do, `field` (or `fields`,
    field → message) at fault; `extra` adds keys to the JSON answer."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        field: str | None = None,
        fields: dict[str, str] | None = None,
        **extra: object,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.fields = dict(fields or {})
        if field is not None:
            self.fields.setdefault(field, message)
        self.extra = extra

    def payload(self) -> dict[str, Any]:
        """The answer's JSON body: `{error, hint?, fields?, ...extra}`."""
        body: dict[str, Any] = {"error": self.message, **self.extra}
        if self.fields:
            body["fields"] = self.fields
        if self.hint:
            body["hint"] = self.hint
        return body


class NotFound(UserError):
    """What the request names does not exist (any more)."""


class Conflict(UserError):
    """The request does not fit the state of what it names (a run's state, a damaged or
    changed file, a result that is not finished)."""


class TooLarge(UserError):
    """The request would take more work, memory or bytes than slidelab allows."""


def not_found(what: str) -> NotFound:
    """A NotFound naming what was missing."""
    return NotFound(f"{what} not found")


def safe_loads(s: str | bytes, **kwargs: Any) -> object:
    """json.loads that raises ValueError, not RecursionError, on absurdly deep nesting."""
    try:
        return json.loads(s, **kwargs)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


def _bounded_int(text: str) -> int | float:
    # An integer of hundreds of digits is no id and no count: parse it as infinity, which
    # every validator refuses with its own message (engine.io would drop the packet).
    return int(text) if len(text) <= 100 else math.inf


class SocketJSON:
    """The JSON module for Socket.IO packets: deep nesting and huge integers are parsed
    into values that handlers refuse, instead of errors that drop the packet unanswered."""

    dumps = staticmethod(json.dumps)

    @staticmethod
    def loads(s: str | bytes, **kwargs: Any) -> object:
        """Parse a packet's JSON."""
        kwargs.setdefault("parse_int", _bounded_int)
        return safe_loads(s, **kwargs)
