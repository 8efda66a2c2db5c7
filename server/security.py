"""Who may talk to the server: one WSGI guard in front of everything else.

Every request — tiles, the Flask API, TensorBoard, the Socket.IO handshake — passes
`AccessGuard` first, which refuses, in this order:

1. a `Host` that is not this machine's when the server is bound to loopback (DNS
   rebinding: a page on `evil.example` resolving to 127.0.0.1 would otherwise be served);
2. a state-changing request (POST, PUT, PATCH, DELETE) or a Socket.IO handshake whose
   `Origin` is another site, or that the browser marks `Sec-Fetch-Site: cross-site` or
   `same-site` (another port of this host is another origin): a page elsewhere cannot
   submit a form or open the websocket. Scripts send neither header and pass;
3. when a token is set, a request without it (`?token=`, `Authorization: Bearer`, or the
   HttpOnly cookie set after a correct `?token=`). The Socket.IO handshake is left to the
   `connect` handler, which also accepts the token in the client's `auth`.

Answers are JSON `{error, hint}` like every other error.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterable
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from server.config import Config

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
SOCKETIO_PATH = "/socket.io/"


def cookie_name(port: int) -> str:
    """The token cookie's name; cookies ignore ports, so each server port has its own."""
    return f"slidelab_token_{port}"


def token_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison; None or empty never matches."""
    if not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def presented_tokens(environ: dict, cookie: str, auth: object = None) -> list[str]:
    """Every token a client presented: Socket.IO auth, query, bearer header, cookie."""
    tokens = []
    if isinstance(auth, dict) and isinstance(auth.get("token"), str):
        tokens.append(auth["token"])
    tokens += parse_qs(environ.get("QUERY_STRING", "")).get("token", [])
    header = environ.get("HTTP_AUTHORIZATION", "")
    if header.startswith("Bearer "):
        tokens.append(header[7:])
    from_cookie = cookie_token(environ, cookie)
    return [*tokens, from_cookie] if from_cookie else tokens


def cookie_token(environ: dict, cookie: str) -> str | None:
    """The token held in this server's cookie, if any."""
    jar = SimpleCookie()
    try:
        jar.load(environ.get("HTTP_COOKIE", ""))
    except Exception:  # noqa: BLE001 - a malformed cookie header holds no token
        return None
    return jar[cookie].value if cookie in jar else None


def has_valid_token(expected: str, environ: dict, cookie: str, auth: object = None) -> bool:
    """Whether any token the client presented is the right one."""
    return any(token_matches(expected, t) for t in presented_tokens(environ, cookie, auth))


def _split_host(value: str) -> str:
    """The host name of a `Host` header value (port and IPv6 brackets removed)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class OriginPolicy:
    """Which Host headers and Origins this server accepts."""

    def __init__(self, config: Config) -> None:
        self.loopback_only = config.is_loopback_bind
        self.extra_hosts = {h.lower() for h in config.allowed_hosts}

    def host_allowed(self, host_header: str) -> bool:
        """On a loopback bind only this machine's names (and --allow-host ones) are served."""
        if not self.loopback_only:
            return True
        name = _split_host(host_header)
        return name in LOOPBACK_NAMES or name.startswith("127.") or name in self.extra_hosts

    def origin_allowed(self, origin: str, host_header: str) -> bool:
        """An Origin is accepted when it is this server's own (or an --allow-host one)."""
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # includes the opaque origin "null"
        if parts.netloc.lower() == host_header.strip().lower():
            return True
        return (parts.hostname or "") in self.extra_hosts

    def cross_site(self, environ: dict) -> bool:
        """Whether a browser sent this request on behalf of another site's page."""
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None:
            return not self.origin_allowed(origin, environ.get("HTTP_HOST", ""))
        return environ.get("HTTP_SEC_FETCH_SITE") in ("cross-site", "same-site")


def _json_response(start_response: Callable, status: str, error: str, hint: str) -> list[bytes]:
    body = json.dumps({"error": error, "hint": hint}).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]


class AccessGuard:
    """WSGI middleware: Host allow-list, same-origin writes, access token."""

    def __init__(self, app: Callable, config: Config) -> None:
        self.app = app
        self.token = config.token or ""  # "": no token (an empty one is refused)
        self.cookie = cookie_name(config.port)
        self.policy = OriginPolicy(config)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        socketio = path.startswith(SOCKETIO_PATH)
        if not self.policy.host_allowed(environ.get("HTTP_HOST", "")):
            return _json_response(
                start_response,
                "403 Forbidden",
                "Host not allowed",
                "Open slidelab as http://127.0.0.1:<port>/ or http://localhost:<port>/, "
                "or start it with --allow-host NAME.",
            )
        unsafe = environ.get("REQUEST_METHOD", "GET") in UNSAFE_METHODS
        if (unsafe or socketio) and self.policy.cross_site(environ):
            return _json_response(
                start_response,
                "403 Forbidden",
                "Cross-site request refused",
                "Changes can only be made from slidelab's own page.",
            )
        if not self.token or socketio:
            return self.app(environ, start_response)
        if not has_valid_token(self.token, environ, self.cookie):
            return _json_response(
                start_response,
                "401 Unauthorized",
                "Access token required",
                "Open the URL with ?token=… as printed by `slidelab serve`.",
            )
        if self._query_token_only(environ):
            start_response = self._remembering(start_response)
        return self.app(environ, start_response)

    def _query_token_only(self, environ: dict) -> bool:
        """A correct ?token= without the cookie yet: the answer sets the cookie."""
        query = parse_qs(environ.get("QUERY_STRING", "")).get("token", [])
        if not any(token_matches(self.token, t) for t in query):
            return False
        return not token_matches(self.token, cookie_token(environ, self.cookie))

    def _remembering(self, start_response: Callable) -> Callable:
        jar = SimpleCookie()
        jar[self.cookie] = self.token
        jar[self.cookie].update({"httponly": "1", "samesite": "Strict", "path": "/"})
        header = ("Set-Cookie", jar[self.cookie].OutputString())

        def _start(status: str, headers: list, exc_info=None):
            return start_response(status, [*headers, header], exc_info)

        return _start
