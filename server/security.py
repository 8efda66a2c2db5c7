"""Access token: checked on every HTTP request and Socket.IO connect when set."""

from __future__ import annotations

import hmac

from flask import Flask, Request, jsonify, request

COOKIE = "slidelab_token"


def token_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison; None never matches."""
    if not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def token_from(req: Request, auth: dict | None = None) -> str | None:
    """The token a client presented: Socket.IO auth, query, bearer header or cookie."""
    if auth and isinstance(auth, dict) and auth.get("token"):
        return str(auth["token"])
    if req.args.get("token"):
        return req.args["token"]
    header = req.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:]
    return req.cookies.get(COOKIE)


def install_token_check(app: Flask, token: str) -> None:
    """Refuse requests without the token (401); remember a valid one in a cookie."""

    @app.before_request
    def _check():
        if not token_matches(token, token_from(request)):
            return jsonify(
                {
                    "error": "Access token required",
                    "hint": "Open the URL with ?token=… as printed by `slidelab serve`.",
                }
            ), 401
        return None

    @app.after_request
    def _remember(response):
        if request.args.get("token") and request.cookies.get(COOKIE) != token:
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
        return response
