"""The Gradio chat page: answers with their sources, examples, follow-ups, like/dislike feedback."""

from __future__ import annotations

import html
import json
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from rag.errors import InvalidQueryError
from rag.pipeline import Answerer
from rag.types import Answer, source_label
from ui.config import ServerConfig
from ui.security import send_json

if TYPE_CHECKING:
    from fastapi import FastAPI

logger = logging.getLogger(__name__)

ABSTAIN_TEXT = "I couldn't find that in the documents. The closest passages:"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>$:@/])")


def escape_text(text: str) -> str:
    """Document text made inert for the chat page: no HTML, no Markdown, no LaTeX, no autolinks,
    just the characters. Quotes stay characters (they are text content, never an attribute)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def highlight(quote: str, answer: str) -> str:
    """The quote, escaped, with the first occurrence of the answer marked."""
    at = quote.find(answer) if answer else -1
    if at < 0:
        return escape_text(quote)
    before, inside, after = quote[:at], quote[at:at + len(answer)], quote[at + len(answer):]
    return f"{escape_text(before)}<mark>{escape_text(inside)}</mark>{escape_text(after)}"


def render_answer(answer: Answer) -> str:
    """The assistant's chat message: short answer, the answering passage, numbered sources."""
    lines: list[str] = []
    if answer.abstained:
        lines.append(ABSTAIN_TEXT)
    else:
        first = answer.citations[0] if answer.citations else None
        lines.append(f"**{escape_text(answer.answer)}** [1]")
        if first is not None and answer.answer != first.quote:
            lines.append("")
            lines.append(f"> {highlight(first.quote, answer.answer)}")
    if answer.citations:
        lines.append("")
        lines.append("**Sources**")
        for c in answer.citations:
            title = f"[*{escape_text(source_label(c.title, c.section))}*]({_link_target(c.url)})"
            if c.n == 1 and not answer.abstained:  # its words are above, as the answer or the quote
                lines.append(f"{c.n}. {title}: the passage quoted above")
            else:
                lines.append(f"{c.n}. {title}: {escape_text(c.quote)}")
    return "\n".join(lines)


def _link_target(url: str) -> str:
    """A URL made safe as a Markdown link target (it is ours or the operator's, never a document's)."""
    return "".join(f"%{ord(ch):02X}" if ch in "()<> \"'`" else ch for ch in url)


MAX_SHOWN_EXCHANGES = 50
"""The conversation the page keeps (server-side) and shows: the latest exchanges."""
MAX_FEEDBACK_BYTES = 10_000_000
"""The feedback file stops growing here (a log line says so); rotate it to collect more."""


class FeedbackLog:
    """Appends one JSON line per like/dislike to a fixed file (never a path from a request),
    up to `max_bytes`. A failed write is logged on the server, never shown to the visitor."""

    def __init__(self, path: Path, max_bytes: int = MAX_FEEDBACK_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def record(self, liked: bool, answer: str, question: str, index: int) -> bool:
        """Append one entry; False when the file is full or cannot be written."""
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "liked": liked,
                 "question": question[:2_000], "answer": answer[:10_000], "index": index}
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                size = self.path.stat().st_size if self.path.exists() else 0
                if size + len(line.encode()) > self.max_bytes:
                    logger.warning("feedback file %s is full (%d bytes); feedback not recorded", self.path, size)
                    return False
                with open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(line)
            except OSError as exc:
                logger.warning("cannot record feedback in %s: %s", self.path, exc)
                return False
        return True


@dataclass(frozen=True, slots=True)
class Exchange:
    """One question and what the page answered: the plain answer (for feedback) and the reply shown."""

    question: str
    answer: str
    reply: str


def respond(assistant: Answerer, message: str, earlier: Sequence[Exchange] = ()) -> Exchange:
    """Answer `message` in the context of the latest earlier questions of the conversation."""
    keep = assistant.limits.max_history_turns
    turns = [e.question for e in earlier][-keep:] if keep else []
    try:
        answer = assistant.ask(message, history=turns)
    except InvalidQueryError as exc:
        return Exchange(message, "", f"Sorry: {escape_text(str(exc))}.")
    return Exchange(message, answer.answer, render_answer(answer))


def messages_of(exchanges: Sequence[Exchange]) -> list[dict[str, str]]:
    """The chatbot's messages for a conversation."""
    out = []
    for e in exchanges:
        out += [{"role": "user", "content": e.question}, {"role": "assistant", "content": e.reply}]
    return out


def chat_turn(assistant: Answerer, message: object, exchanges: Sequence[Exchange]) -> list[Exchange]:
    """The conversation after `message`: the latest MAX_SHOWN_EXCHANGES exchanges."""
    if not isinstance(message, str) or not message.strip():
        return list(exchanges)
    return [*exchanges, respond(assistant, message, exchanges)][-MAX_SHOWN_EXCHANGES:]


def record_like(feedback: FeedbackLog, exchanges: Sequence[Exchange], index: object, liked: object) -> bool:
    """Log a like or dislike of the answer shown at message `index`; the text logged is the plain
    answer the server gave, never what the request says it was. False when nothing was logged."""
    if isinstance(index, list | tuple) and index:
        index = index[0]
    value = liked_value(liked)
    if not isinstance(index, int) or isinstance(index, bool) or value is None:
        return False
    if not 0 <= index < 2 * len(exchanges) or index % 2 == 0:
        return False  # only an answer of this conversation can be liked
    exchange = exchanges[index // 2]
    return feedback.record(value, exchange.answer, exchange.question, index)


def liked_value(liked: object) -> bool | None:
    """A like or dislike as sent by the page (True/False or the option's label); anything else None."""
    if isinstance(liked, bool):
        return liked
    return {"Like": True, "Dislike": False}.get(liked) if isinstance(liked, str) else None


def build_chat(assistant: Answerer, config: ServerConfig) -> gr.Blocks:
    """The page. The conversation lives on the server (`gr.State`): each event sends only the new
    question, never the history, so its size is the question's."""
    feedback = FeedbackLog(config.feedback_path)

    def on_submit(message: str, exchanges: list[Exchange]) -> tuple[list[dict[str, str]], list[Exchange], str]:
        exchanges = chat_turn(assistant, message, exchanges)
        return messages_of(exchanges), exchanges, ""

    def on_like(exchanges: list[Exchange], data: gr.LikeData) -> None:
        record_like(feedback, exchanges, data.index, data.liked)

    def on_clear() -> tuple[list[dict[str, str]], list[Exchange], str]:
        return [], [], ""

    with gr.Blocks(title=config.title, analytics_enabled=False, fill_height=True) as page:
        gr.Markdown(f"# {escape_text(config.title)}\nAnswers are quoted from the documents, with numbered sources.")
        state = gr.State([])
        chatbot = gr.Chatbot(
            label="Conversation", show_label=False, elem_id="chat", height=520, sanitize_html=True, allow_tags=False,
            autoscroll=False,  # KEEP_ANSWER_IN_VIEW scrolls instead: to the top of a new answer
            feedback_options=("Like", "Dislike"), placeholder="Ask a question about the documents.",
            latex_delimiters=[],  # "$$" in a document is text, not a formula
            buttons=["copy", "copy_all"],  # no "share" (to Hugging Face): the page sends nothing out
        )
        with gr.Row():
            box = gr.Textbox(placeholder="Ask a question…", show_label=False, elem_id="question", scale=8,
                             max_length=assistant.limits.max_question_chars, autofocus=True, submit_btn=True)
        clear = gr.Button("New conversation", elem_id="clear", size="sm")
        gr.Examples(examples=[[e] for e in config.examples], inputs=[box], label="Examples")
        box.submit(on_submit, [box, state], [chatbot, state, box], api_visibility="private")
        clear.click(on_clear, None, [chatbot, state, box], api_visibility="private")
        chatbot.clear(on_clear, None, [chatbot, state, box], api_visibility="private")  # its trash icon
        chatbot.like(on_like, [state], None, api_visibility="private")
    return page  # type: ignore[no-any-return]


KEEP_ANSWER_IN_VIEW = """
() => {
  // A new answer is scrolled to its top (the short answer), not to its end: on a phone a long
  // answer with its sources would otherwise push the short answer out of view.
  const seen = new WeakSet();
  const show = () => {
    const bots = document.querySelectorAll('#chat .message.bot');
    const last = bots[bots.length - 1];
    if (last && !seen.has(last) && last.innerText.trim()) {
      seen.add(last);
      const row = last.closest('.message-row') || last;
      row.scrollIntoView({block: 'start'});
    }
  };
  new MutationObserver(show).observe(document.body, {childList: true, subtree: true});
}
"""
JOIN_PATH = "/gradio_api/queue/join"
_SESSION = re.compile(r"[A-Za-z0-9_-]{1,64}")


def mount_chat(app: FastAPI, assistant: Answerer, config: ServerConfig) -> None:
    page = build_chat(assistant, config)
    gr.mount_gradio_app(app, page, path="/", footer_links=[], theme=gr.themes.Default(), max_file_size=1,
                        show_error=False, js=KEEP_ANSWER_IN_VIEW)
    app.add_middleware(JoinCheck, events=frozenset(page.fns))


class JoinCheck:
    """Lets through to Gradio's queue only what this page sends: one of its own events, a session
    id, a list of inputs. Gradio answers anything else with a 500 and a traceback (an unknown
    event number or no session, found by fuzzing); here it is a 422 that says so."""

    def __init__(self, app: Any, events: frozenset[int]) -> None:
        self.app = app
        self.events = events

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") != JOIN_PATH or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            event = await receive()
            if event["type"] != "http.request":
                return  # the client went away
            chunks.append(event.get("body", b""))
            if not event.get("more_body", False):
                break
        body = b"".join(chunks)
        if not self._valid(body):
            text = "not a request this page sends"
            await send_json(send, 422, {"detail": text, "message": text})
            return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _valid(self, body: bytes) -> bool:
        try:
            data = json.loads(body)
        except ValueError:
            return False
        if not isinstance(data, dict):
            return False
        fn_index, session = data.get("fn_index"), data.get("session_hash")
        return (isinstance(fn_index, int) and not isinstance(fn_index, bool) and fn_index in self.events
                and isinstance(session, str) and bool(_SESSION.fullmatch(session))
                and isinstance(data.get("data"), list))
