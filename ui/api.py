"""The FastAPI app: POST /api/ask, GET /api/health, /widget.js, and the Gradio chat page at /."""

from __future__ import annotations

import html
import json
import logging
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.config import LIMITS, QueryLimits
from rag.errors import InvalidQueryError, RagError
from rag.pipeline import Answerer
from rag.types import Document, source_label
from ui.config import ServerConfig
from ui.security import Gate, RateLimiter, peer_key

logger = logging.getLogger(__name__)

WIDGET_DIR = Path(__file__).resolve().parent / "widget"
_WIDGET_LIMITS = re.compile(r"/\*rag:limits\*/.*?/\*rag:end\*/", re.S)


class AskRequest(BaseModel):
    """A question, with the earlier user turns of the conversation, oldest first."""

    # The assistant checks both limits (rag.config.QueryLimits); the schema shows the defaults.
    question: str = Field(description="the question (blanks are folded before its length is checked)",
                          json_schema_extra={"maxLength": LIMITS.max_question_chars})
    history: list[str] = Field(default_factory=list, description="earlier user questions, oldest first",
                               json_schema_extra={"maxItems": LIMITS.max_history_turns})


class CitationModel(BaseModel):
    n: int
    doc_id: str
    title: str
    section: str = Field(description='the heading path of the quote, e.g. "Settings › Connections" ("" if none)')
    url: str = Field(description="opens the source at the quote: /source/{doc_id}?start=&end=#passage, "
                                 "or the page on its site (rag serve --base-url)")
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


def create_app(assistant: Answerer, config: ServerConfig | None = None) -> FastAPI:
    """Build the whole server around a loaded assistant."""
    cfg = ServerConfig() if config is None else config
    app = FastAPI(
        title="rag: cited answers from your documents",
        version="0.1.0",
        description="Extractive question answering with numbered citations. POST /api/ask.",
        docs_url=None,  # served below from local files: the page makes no request outside
        redoc_url=None,
    )
    widget_js = widget_script(assistant.limits)

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
                   403: {"model": ErrorModel}},
    )
    def ask(body: AskRequest) -> Any:
        """Answer a question with citations (the answer JSON of DESIGN.md)."""
        try:
            answer = assistant.ask(body.question, history=body.history)
        except InvalidQueryError as exc:
            return JSONResponse({"detail": str(exc), "message": str(exc)}, status_code=422)
        except RagError as exc:
            logger.exception("answering failed")
            return JSONResponse({"detail": str(exc), "message": str(exc)}, status_code=500)
        # Already the documented shape: skip a second validation pass on the hot path.
        return JSONResponse(answer.to_dict())

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        """Liveness, what is loaded, and the limits a client must keep to."""
        limits = assistant.limits
        return {"status": "ok", **assistant.describe(), "limits": {
            "max_question_chars": limits.max_question_chars, "max_history_turns": limits.max_history_turns}}

    @app.get("/source/{doc_id:path}", include_in_schema=False)
    def source(doc_id: str, start: int = -1, end: int = -1) -> Response:
        """A document's text as text (never as HTML), the cited passage highlighted."""
        doc = assistant.document(doc_id)
        if doc is None:
            return JSONResponse({"detail": "no such document", "message": "no such document"}, status_code=404)
        return Response(source_page(doc, start, end), media_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
                                 "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})

    @app.get("/widget.js", include_in_schema=False)
    def widget() -> Response:
        return Response(widget_js, media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300"})

    @app.get("/widget/demo.html", include_in_schema=False)
    def widget_demo() -> FileResponse:
        return FileResponse(WIDGET_DIR / "demo.html", media_type="text/html; charset=utf-8")

    _mount_docs(app)
    if cfg.chat_page:
        from ui.chat import mount_chat

        mount_chat(app, assistant, cfg)

    # The gate is outermost (every route, the chat page's included); CORS headers inside it.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(cfg.cors_origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Content-Type"],
        expose_headers=["Retry-After"],
        max_age=600,
    )
    app.add_middleware(
        Gate,
        limiter=RateLimiter(cfg.rate_per_minute, cfg.rate_burst),
        client_key=peer_key(cfg.trusted_proxies),
        allowed_origins=cfg.cors_origins,
        allowed_hosts=cfg.allowed_hosts,
        max_body_bytes=cfg.max_body_bytes,
        max_body_seconds=cfg.max_body_seconds,
    )
    return app


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the `swagger-ui-bundle` package's files, not from a CDN."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        logger.warning("no /docs page: swagger-ui-bundle is not installed (the schema is at /openapi.json)")
        return
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title=f"{app.title} - API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js", swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


def source_page(doc: Document, start: int, end: int) -> str:
    """The source view: the whole text, escaped, in a <pre>; [start, end) marked as the passage
    (id "passage", so the link's #passage scrolls it into view with no script)."""
    text = doc.text
    title = html.escape(doc.title)
    if 0 <= start < end <= len(text):
        body = (html.escape(text[:start]) + '<mark id="passage">' + html.escape(text[start:end]) + "</mark>"
                + html.escape(text[end:]))
        heading = html.escape(source_label(doc.title, doc.section_at(start)))
    else:
        body, heading = html.escape(text), title
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>"
        "body{font:16px/1.55 system-ui,sans-serif;margin:0 auto;max-width:46rem;padding:1rem;color:#1f1f1f}"
        "h1{font-size:1.2rem}pre{white-space:pre-wrap;word-wrap:break-word;font:inherit}"
        "mark{background:#fde68a;scroll-margin-top:40vh}.source{color:#555;font-size:.9rem}"
        f"</style></head><body><h1>{heading}</h1><p class=\"source\">{html.escape(doc.source)}</p>"
        f"<pre>{body}</pre></body></html>"
    )


def widget_script(limits: QueryLimits) -> str:
    """widget.js with the assistant's limits written in, so the widget keeps to the server's."""
    source = (WIDGET_DIR / "widget.js").read_text(encoding="utf-8")
    values = json.dumps({"max_question_chars": limits.max_question_chars,
                         "max_history_turns": limits.max_history_turns})
    written, count = _WIDGET_LIMITS.subn(lambda _: f"/*rag:limits*/ {values} /*rag:end*/", source)
    if count != 1:
        raise RuntimeError("widget.js has lost its /*rag:limits*/ marker")
    return written


def _plain(errors: Any) -> Any:
    """Validation errors with only JSON-safe values (pydantic may put exceptions in 'ctx')."""
    out = []
    for error in errors:
        item = {k: v for k, v in error.items() if k in ("type", "loc", "msg")}
        out.append(item)
    return out
