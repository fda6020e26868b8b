"""Guards for a public endpoint: origin allowlist, per-client rate limit, request size limit."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
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
    """Refuse request bodies over `max_bytes` with 413, before they are read whole.

    A declared Content-Length over the limit is refused at once; a body sent without one
    (chunked) is counted as it arrives and cut off at the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, prefix: str = "/api/") -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        message = f"request body is over the {self.max_bytes:,}-byte limit"
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await send_json(send, 400, {"detail": "bad Content-Length", "message": "bad Content-Length"})
                    return
                if declared > self.max_bytes:
                    await send_json(send, 413, {"detail": message, "message": message})
                    return
        received = 0
        too_large = False
        answered = False

        async def guarded_receive() -> Message:
            # Past the limit the app is told the body ended; what it answers is replaced below.
            nonlocal received, too_large
            if too_large:
                return {"type": "http.request", "body": b"", "more_body": False}
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return event

        async def guarded_send(event: Message) -> None:
            nonlocal answered
            if not too_large:
                await send(event)
            elif not answered:
                answered = True
                await send_json(send, 413, {"detail": message, "message": message})

        await self.app(scope, guarded_receive, guarded_send)


class OriginGuardMiddleware:
    """Refuse cross-origin API calls from origins not on the allowlist (403, with a message).

    Same-origin requests (the chat page itself) and requests without an Origin header
    (curl, server to server) pass; CORS headers for allowed origins are added elsewhere.
    """

    def __init__(self, app: ASGIApp, allowed: Iterable[str], prefix: str = "/api/") -> None:
        self.app = app
        self.allowed = {o.rstrip("/") for o in allowed}
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(self.prefix):
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
            origin = headers.get("origin")
            if origin is not None and not self._allowed(origin, headers, scope):
                text = "This assistant is not available on this site."
                await send_json(send, 403, {"detail": text, "message": text})
                return
        await self.app(scope, receive, send)

    def _allowed(self, origin: str, headers: dict[str, str], scope: Scope) -> bool:
        if origin == "null":  # sandboxed frames and file:// pages
            return False
        if "*" in self.allowed or origin.rstrip("/") in self.allowed:
            return True
        host = headers.get("host", "")
        scheme = scope.get("scheme", "http")
        return origin.rstrip("/") == f"{scheme}://{host}"
