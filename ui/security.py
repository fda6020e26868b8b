"""One gate in front of every route: which routes exist, which hosts and origins may call, how
often a client may ask, how large a request may be.

Every request passes `Gate` before FastAPI or Gradio sees it, so the chat page's own endpoints
get exactly the guards the REST API gets; a route the product does not use is not found.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RateLimiter:
    """Token buckets per client: `burst` requests at once, refilled at `per_minute` a minute."""

    def __init__(self, per_minute: float, burst: int, max_clients: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, client: str) -> float:
        """Take one token for `client`; returns 0 if allowed, else seconds until one is free."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate if self.rate > 0 else math.inf
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        return wait


async def send_json(send: Send, status: int, body: dict[str, Any], headers: Iterable[tuple[str, str]] = ()) -> None:
    """Answer a request with a JSON body, from inside ASGI middleware."""
    payload = json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw_headers += [(k.encode(), v.encode()) for k, v in headers]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` with 413, before they are read whole, and bodies
    that take longer than `max_seconds` to arrive (a client sending a byte at a time) with 408.

    A declared Content-Length over the limit is refused at once; a body sent without one
    (chunked) is counted as it arrives and cut off at the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_seconds: float = 10.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"request body is over the {self.max_bytes:,}-byte limit"
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await send_json(send, 400, {"detail": "bad Content-Length", "message": "bad Content-Length"})
                    return
                if declared > self.max_bytes:
                    await send_json(send, 413, {"detail": too_large, "message": too_large},
                                    headers=[("connection", "close")])
                    return
        received = 0
        refusal: tuple[int, str] | None = None
        answered = False
        deadline = asyncio.get_running_loop().time() + self.max_seconds

        async def guarded_receive() -> Message:
            # Once refused, the app is told the body ended; what it answers is replaced below.
            nonlocal received, refusal
            if refusal is not None:
                return {"type": "http.request", "body": b"", "more_body": False}
            try:
                event = await asyncio.wait_for(receive(), max(deadline - asyncio.get_running_loop().time(), 0.0))
            except TimeoutError:
                slow = f"the request body took over {self.max_seconds:g} s to arrive"
                refusal = (408, slow)
                return {"type": "http.request", "body": b"", "more_body": False}
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > self.max_bytes:
                    refusal = (413, too_large)
                    return {"type": "http.request", "body": b"", "more_body": False}
            return event

        async def guarded_send(event: Message) -> None:
            nonlocal answered
            if refusal is None:
                await send(event)
            elif not answered:
                answered = True
                status, text = refusal
                # The rest of the body was not read: the connection cannot carry another request.
                await send_json(send, status, {"detail": text, "message": text}, headers=[("connection", "close")])

        await self.app(scope, guarded_receive, guarded_send)


@dataclass(frozen=True, slots=True)
class Route:
    """What a request may do: `answers` routes reach the assistant (rate-limited, origin-checked)."""

    answers: bool = False
    cross_origin: bool = False
    """Other sites on the allowlist may call it (the REST API); otherwise same-origin only."""


ANSWER_ROUTES = {
    ("POST", "/api/ask"): Route(answers=True, cross_origin=True),
    ("POST", "/gradio_api/queue/join"): Route(answers=True),  # every chat-page event: ask, like, clear
}
OPEN_ROUTES = {
    ("GET", "/"), ("GET", "/theme.css"), ("GET", "/favicon.ico"), ("GET", "/gradio_api/queue/data"),
    ("GET", "/api/health"), ("GET", "/widget.js"), ("GET", "/widget/demo.html"),
    ("GET", "/docs"), ("GET", "/openapi.json"),
}
OPEN_PREFIXES = (("GET", "/assets/"), ("GET", "/static/"), ("GET", "/docs-assets/"),
                 ("GET", "/gradio_api/heartbeat/"), ("GET", "/source/"))


def route_of(method: str, path: str) -> Route | None:
    """The route a request may take, or None: everything else (Gradio's uploads, files, deep links,
    proxies, direct calls, info) is not served."""
    method = "GET" if method == "HEAD" else method
    if (method, path) in ANSWER_ROUTES:
        return ANSWER_ROUTES[(method, path)]
    if method == "OPTIONS" and path.startswith("/api/"):
        return Route(cross_origin=True)  # CORS preflight
    if (method, path) in OPEN_ROUTES or any(method == m and path.startswith(p) for m, p in OPEN_PREFIXES):
        return Route()
    return None


def default_hosts(bind_host: str, port: int) -> tuple[str, ...]:
    """The Host headers a server bound to `bind_host` answers by default: loopback names, and the
    bind address itself unless it is a wildcard."""
    names = ["localhost", "127.0.0.1", "[::1]"]
    if bind_host not in ("0.0.0.0", "::", ""):
        names.append(f"[{bind_host}]" if ":" in bind_host else bind_host)
    return tuple(dict.fromkeys(n for name in names for n in (name, f"{name}:{port}")))


class Gate:
    """The one guard in front of the whole app (ASGI middleware).

    - Host: only the server's own names (a DNS-rebinding page has another Host): 421.
    - Route: only what the product uses (`route_of`): 404 for anything else.
    - Origin: a cross-site request to an answering route needs the allowlist (REST API) or is
      refused (chat page): 403.
    - Rate: one token bucket per client for every answering route, chat page included: 429.
    - Size: a body over `max_body_bytes` on any route: 413, before it is read whole; one that
      takes over `max_body_seconds` to arrive: 408.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        client_key: Callable[[Scope], str],
        allowed_origins: Iterable[str] = (),
        allowed_hosts: Iterable[str] | None = None,
        max_body_bytes: int = 16_384,
        max_body_seconds: float = 10.0,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.client_key = client_key
        self.origins = {o.rstrip("/") for o in allowed_origins}
        self.hosts = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}
        self.body_limit = BodyLimitMiddleware(app, max_bytes=max_body_bytes, max_seconds=max_body_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets: nothing of the product uses one
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "").lower()
        if self.hosts is not None and host not in self.hosts:
            await _refuse(send, 421, "This server does not answer for that host name.")
            return
        route = route_of(scope.get("method", "GET"), str(scope.get("path", "")))
        if route is None or (scope.get("path") == "/" and b"deep_link" in scope.get("query_string", b"")):
            await _refuse(send, 404, "Not found.")
            return
        origin = headers.get("origin")
        guarded = route.answers or route.cross_origin
        if guarded and origin is not None and not self._origin_allowed(origin, host, scope, route):
            await _refuse(send, 403, "This assistant is not available on this site.")
            return
        if guarded and origin is not None:
            send = _with_cors(send, origin)  # so an allowed site's page can read a refusal too
        if route.answers:
            wait = self.limiter.check(self.client_key(scope))
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                text = f"too many questions; try again in {seconds} s"
                await send_json(send, 429, {"detail": text, "message": text, "retry_after": seconds},
                                headers=[("retry-after", str(seconds))])
                return
        await self.body_limit(scope, receive, send)

    def _origin_allowed(self, origin: str, host: str, scope: Scope, route: Route) -> bool:
        origin = origin.rstrip("/")
        if origin == f"{scope.get('scheme', 'http')}://{host}":
            return True  # same origin (the Host itself was checked)
        if origin == "null" or not route.cross_origin:
            return False  # sandboxed frames, file:// pages; the chat page is ours alone
        return "*" in self.origins or origin in self.origins


def _with_cors(send: Send, origin: str) -> Send:
    """`send`, adding CORS headers for `origin` to a response that has none (the gate's own
    refusals, 408/413/429, which the CORS middleware inside never sees)."""

    async def wrapped(event: Message) -> None:
        if event["type"] == "http.response.start":
            headers = list(event.get("headers", []))
            if not any(name.lower() == b"access-control-allow-origin" for name, _ in headers):
                headers += [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin"),
                            (b"access-control-expose-headers", b"Retry-After")]
                event = {**event, "headers": headers}
        await send(event)

    return wrapped


async def _refuse(send: Send, status: int, text: str) -> None:
    await send_json(send, status, {"detail": text, "message": text})


def peer_key(trusted_proxies: Iterable[str]) -> Callable[[Scope], str]:
    """Who to rate-limit: the peer, or behind a trusted proxy the nearest untrusted address it
    forwards for (the rightmost in X-Forwarded-For; the leftmost entries are the client's to forge).
    X-Forwarded-For from any other peer, loopback included, is ignored."""
    trusted = {str(ipaddress.ip_address(p)) if _is_ip(p) else p for p in trusted_proxies}

    def key(scope: Scope) -> str:
        client = scope.get("client")
        peer = str(client[0]) if client else "unknown"
        if peer not in trusted:
            return peer
        forwarded = ""
        for name, value in scope.get("headers", []):
            if name.lower() == b"x-forwarded-for":
                forwarded += ("," if forwarded else "") + value.decode("latin-1")
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            if hop not in trusted:
                return hop
        return peer

    return key


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
