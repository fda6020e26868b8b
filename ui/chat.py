"""The Gradio chat page: answers with their sources, examples, follow-ups, like/dislike feedback."""

from __future__ import annotations

import html
import json
import logging
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from rag.errors import InvalidQueryError
from rag.pipeline import Assistant
from rag.types import Answer
from ui.config import ServerConfig

if TYPE_CHECKING:
    from fastapi import FastAPI

logger = logging.getLogger(__name__)

ABSTAIN_TEXT = "I couldn't find that in the documents. The closest passages:"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def escape_text(text: str) -> str:
    """Document text made inert for the chat page: no HTML, no Markdown, just the characters."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=True))


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
            quote = highlight(c.quote, answer.answer) if c.n == 1 and not answer.abstained else escape_text(c.quote)
            lines.append(f"{c.n}. *{escape_text(c.title)}* (characters {c.start}–{c.end}): {quote}")
    return "\n".join(lines)


class FeedbackLog:
    """Appends one JSON line per like/dislike to a fixed file (never a path from a request)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(self, liked: bool | str | None, message: str, question: str, index: Any) -> None:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "liked": liked,
                 "question": question[:2_000], "answer": message[:10_000], "index": index}
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)


def message_text(content: Any) -> str:
    """The text of a Gradio message's content: a string, or a list of parts like {"type": "text", "text": ...}."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text", ""))
    if isinstance(content, list):
        return " ".join(message_text(part) for part in content).strip()
    return ""


def user_turns(history: list[dict[str, Any]]) -> list[str]:
    """The user questions of a Gradio message history, oldest first."""
    turns = [message_text(m.get("content")) for m in history if m.get("role") == "user"]
    return [t for t in turns if t.strip()]


def respond(assistant: Assistant, message: str, history: list[dict[str, Any]]) -> str:
    """The chat handler: answer `message` in the context of the latest earlier user turns."""
    keep = assistant.limits.max_history_turns
    turns = user_turns(history)[-keep:] if keep else []
    try:
        answer = assistant.ask(message, history=turns)
    except InvalidQueryError as exc:
        return f"Sorry: {escape_text(str(exc))}."
    return render_answer(answer)


def build_chat(assistant: Assistant, config: ServerConfig) -> gr.Blocks:
    feedback = FeedbackLog(config.feedback_path)

    def on_submit(message: str, history: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
        if not message or not message.strip():
            return history, ""
        reply = respond(assistant, message, history)
        return [*history, {"role": "user", "content": message}, {"role": "assistant", "content": reply}], ""

    def on_like(history: list[dict[str, Any]], data: gr.LikeData) -> None:
        index = data.index if isinstance(data.index, int) else data.index[0]
        asked = user_turns(history[: index + 1])
        feedback.record(data.liked, message_text(data.value), asked[-1] if asked else "", data.index)

    with gr.Blocks(title=config.title, analytics_enabled=False, fill_height=True) as page:
        gr.Markdown(f"# {escape_text(config.title)}\nAnswers are quoted from the documents, with numbered sources.")
        chatbot = gr.Chatbot(
            label="Conversation", elem_id="chat", height=520, sanitize_html=True, allow_tags=False,
            feedback_options=("Like", "Dislike"), placeholder="Ask a question about the documents.",
        )
        with gr.Row():
            box = gr.Textbox(placeholder="Ask a question…", show_label=False, elem_id="question", scale=8,
                             max_length=assistant.limits.max_question_chars, autofocus=True, submit_btn=True)
        clear = gr.Button("New conversation", elem_id="clear", size="sm")
        gr.Examples(examples=[[e] for e in config.examples], inputs=[box], label="Examples")
        box.submit(on_submit, [box, chatbot], [chatbot, box], api_visibility="private")
        clear.click(lambda: ([], ""), None, [chatbot, box], api_visibility="private")
        chatbot.like(on_like, [chatbot], None, api_visibility="private")
    return page  # type: ignore[no-any-return]


def mount_chat(app: FastAPI, assistant: Assistant, config: ServerConfig) -> None:
    page = build_chat(assistant, config)
    gr.mount_gradio_app(app, page, path="/", footer_links=[], theme=gr.themes.Default(), max_file_size=1)
