"""The FastAPI app: POST /api/ask, GET /api/health, /widget.js, and the Gradio chat page at /."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import IndexMismatchError, IndexNotBuiltError, InvalidQueryError, RagError
from rag.pipeline import Assistant
from ui.security import BodyLimitMiddleware, OriginGuardMiddleware, RateLimiter

logger = logging.getLogger(__name__)

WIDGET_DIR = Path(__file__).resolve().parent / "widget"
MAX_HISTORY = 20


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What a public deployment sets: who may call, how often, how much, where feedback goes."""

    cors_origins: tuple[str, ...] = ()
    rate_per_minute: float = 60.0
    rate_burst: int = 20
    max_body_bytes: int = 16_384
    max_question_chars: int = 2_000
    feedback_path: Path = Path("feedback.jsonl")
    title: str = "Ask the documents"
    examples: tuple[str, ...] = (
        "When was the hard and core technology concept first proposed?",
        "Which two Xi’an companies debuted on the STAR Market?",
        "How much did Xi’an’s GDP grow in the first half of this year?",
    )
    chat_page: bool = True
    trusted_proxies: tuple[str, ...] = ()
    """Peers (reverse proxies) whose X-Forwarded-For names the real client for rate limiting."""


class AskRequest(BaseModel):
    """A question, with the earlier user turns of the conversation, oldest first."""

    question: str = Field(min_length=1, max_length=100_000, description="the question")
    history: list[str] = Field(default_factory=list, max_length=MAX_HISTORY,
                               description="earlier user questions, oldest first")


class CitationModel(BaseModel):
    n: int
    doc_id: str
    title: str
    chunk_id: str
    start: int
    end: int
    quote: str
    score: float


class AnswerModel(BaseModel):
    """The answer JSON of DESIGN.md."""

    question: str
    answer: str
    abstained: bool
    confidence: float
    citations: list[CitationModel]
    latency_ms: float


class ErrorModel(BaseModel):
    detail: Any
    message: str


def create_app(assistant: Assistant, config: ServerConfig | None = None) -> FastAPI:
    """Build the whole server around a loaded assistant."""
    cfg = ServerConfig() if config is None else config
    app = FastAPI(
        title="rag: cited answers from your documents",
        version="0.1.0",
        description="Extractive question answering with numbered citations. POST /api/ask.",
    )
    limiter = RateLimiter(cfg.rate_per_minute, cfg.rate_burst)
    app.state.assistant = assistant
    app.state.config = cfg
    app.state.limiter = limiter

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else str(first.get("msg", "invalid"))
        return JSONResponse({"detail": _plain(errors), "message": message}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail, "message": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.post(
        "/api/ask",
        response_model=AnswerModel,
        responses={413: {"model": ErrorModel}, 422: {"model": ErrorModel}, 429: {"model": ErrorModel},
                   403: {"model": ErrorModel}, 503: {"model": ErrorModel}},
    )
    def ask(body: AskRequest, request: Request) -> Any:
        """Answer a question with citations (the answer JSON of DESIGN.md)."""
        wait = limiter.check(client_key(request, cfg.trusted_proxies))
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            text = f"too many questions; try again in {seconds} s"
            return JSONResponse({"detail": text, "message": text, "retry_after": seconds},
                                status_code=429, headers={"Retry-After": str(seconds)})
        if len(body.question) > cfg.max_question_chars:
            text = f"the question is {len(body.question):,} characters; the limit is {cfg.max_question_chars:,}"
            return JSONResponse({"detail": text, "message": text}, status_code=422)
        try:
            answer = assistant.ask(body.question, history=body.history)
        except InvalidQueryError as exc:
            return JSONResponse({"detail": str(exc), "message": str(exc)}, status_code=422)
        except (IndexNotBuiltError, IndexMismatchError) as exc:
            return JSONResponse({"detail": str(exc), "message": str(exc)}, status_code=503)
        except RagError as exc:
            logger.exception("answering failed")
            return JSONResponse({"detail": str(exc), "message": str(exc)}, status_code=500)
        # Already the documented shape: skip a second validation pass on the hot path.
        return JSONResponse(answer.to_dict())

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        """Liveness and what is loaded."""
        m = assistant.stored.manifest
        return {"status": "ok", "documents": len(assistant.stored.documents), "chunks": m.n_chunks,
                "sentences": m.n_sentences, "embedder": m.embedder, "index_created": m.created}

    @app.get("/widget.js", include_in_schema=False)
    def widget() -> FileResponse:
        return FileResponse(WIDGET_DIR / "widget.js", media_type="text/javascript; charset=utf-8",
                            headers={"Cache-Control": "public, max-age=300"})

    @app.get("/widget/demo.html", include_in_schema=False)
    def widget_demo() -> FileResponse:
        return FileResponse(WIDGET_DIR / "demo.html", media_type="text/html; charset=utf-8")

    if cfg.chat_page:
        from ui.chat import mount_chat

        mount_chat(app, assistant, cfg)

    # Outermost first: size limit, then origin refusal, then CORS headers for allowed origins.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(cfg.cors_origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Content-Type"],
        expose_headers=["Retry-After"],
        max_age=600,
    )
    app.add_middleware(OriginGuardMiddleware, allowed=cfg.cors_origins)
    app.add_middleware(BodyLimitMiddleware, max_bytes=cfg.max_body_bytes)
    return app


def client_key(request: Request, trusted_proxies: tuple[str, ...]) -> str:
    """Who to rate-limit: the peer, or behind a trusted proxy the nearest untrusted address it
    forwards for (the rightmost in X-Forwarded-For; the leftmost entries are the client's to forge)."""
    peer = request.client.host if request.client else "unknown"
    if peer not in trusted_proxies:
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted_proxies:
            return hop
    return peer


def _plain(errors: Any) -> Any:
    """Validation errors with only JSON-safe values (pydantic may put exceptions in 'ctx')."""
    out = []
    for error in errors:
        item = {k: v for k, v in error.items() if k in ("type", "loc", "msg")}
        out.append(item)
    return out
