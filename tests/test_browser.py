"""The chat page and the widget in a real headless Chromium (Debian's, driven by Playwright).

Skipped when /usr/bin/chromium is missing, except in CI (CI=true), where that is a failure.
Screenshots go to tests/.artifacts/ (or $RAG_ARTIFACTS).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.request
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rag.build import build_index
from rag.embed_hash import HashEmbedder
from rag.pipeline import Assistant

from .conftest import SMALL_CORPUS, free_port, write_corpus

CHROMIUM = os.environ.get("RAG_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("RAG_ARTIFACTS", Path(__file__).parent / ".artifacts"))

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"CI needs Debian's chromium at {CHROMIUM} for the browser tests")
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

pytestmark = pytest.mark.browser

HOSTILE_DOC = (
    "The unicorn test page holds hostile text. Its first line reads <script>window.__pwned = 1; alert(1)</script> "
    "as plain words.\n\nThe unicorn image tag is <img src=x onerror=\"window.__pwned = 2; alert(2)\"> and nothing "
    "more.\n\nThe unicorn link is [click me](javascript:alert(3)) and also <a href=\"javascript:alert(4)\">link</a> "
    "in the text."
)
HOSTILE_QUESTION = "What does the unicorn test page hold?"
PLAIN_DOC = ("The zebra note shows $$x^2 + y^2$$ as typed, links to https://evil.example/login and "
             "www.evil.example in the text, and keeps <b>bold</b> tags.")
PLAIN_QUESTION = "What does the zebra note show as typed?"
LONG_DOC = " ".join(
    f"The quokka report, part {n}, says that the island colony was counted in 2019 by volunteers who walked "
    "every trail, every beach and every gully of the island from the ferry landing to the lighthouse, "
    "noting each animal, its age, its weight and the shrub it was eating, before the rangers checked "
    "the tallies against the traps and the cameras." for n in ("one", "two", "three", "four"))
LONG_QUESTION = "When was the quokka island colony counted by volunteers?"
WALRUS_DOC = "# Walrus guide\n\n" + "\n\n".join(
    f"## Part {n}\n\nThe walrus guide part {n} describes the ice floes, the herds and the long swims of the "
    "animals along the coast in spring, summer and autumn." for n in range(1, 13)
) + ("\n\n## Diet\n\nIn the Arctic winter, walruses eat `<b>clams</b>` from the sea floor, up to 6,000 a day."
     "\n\nThey find them with their whiskers.")
WALRUS_QUESTION = "What do walruses eat in the Arctic winter?"
SERVED: dict[str, Path] = {}


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Two static sites on their own origins, each pasting the widget snippet."""
    base: dict[str, str] = {}
    servers = []
    api_port = free_port()
    for name in ("allowed", "denied"):
        folder = tmp_path_factory.mktemp(name)
        (folder / "index.html").write_text(
            "<!doctype html><html><head><title>Host</title>"
            "<meta name=viewport content=\"width=device-width, initial-scale=1\"><style>* { font-size: 40px !important; }"
            "button { display: none !important; }</style></head><body><h1>A host page</h1>"
            "<p>Some text of the site owner.</p><button id=host-button>host</button>"
            f'<script src="http://127.0.0.1:{api_port}/widget.js" data-title="Ask us" '
            'data-greeting="Hello!" data-starters="When did the Long March 5 rocket first fly?" defer></script>'
            "</body></html>",
            encoding="utf-8",
        )
        handler = partial(_QuietHandler, directory=str(folder))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        base[name] = f"http://127.0.0.1:{server.server_address[1]}"
    base["api_port"] = str(api_port)
    yield base
    for server in servers:
        server.shutdown()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server(hosts: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`rag serve`'s app on a free port, over the small corpus plus a hostile document."""
    import uvicorn

    from ui.api import create_app
    from ui.config import ServerConfig

    root = tmp_path_factory.mktemp("served")
    SERVED["feedback"] = root / "feedback.jsonl"
    docs = write_corpus(root / "docs", {**SMALL_CORPUS, "unicorn.txt": HOSTILE_DOC, "zebra.txt": PLAIN_DOC, "quokka.txt": LONG_DOC,
                                              "walrus.md": WALRUS_DOC})
    build_index(docs, root / "index", HashEmbedder())
    assistant = Assistant.load(root / "index")
    config = ServerConfig(cors_origins=(hosts["allowed"],), feedback_path=root / "feedback.jsonl",
                          rate_per_minute=6_000, rate_burst=1_000)
    port = int(hosts["api_port"])
    uv = uvicorn.Server(uvicorn.Config(create_app(assistant, config), host="127.0.0.1", port=port,
                                       log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not uv.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.dialogs = []  # type: ignore[attr-defined]
    page.outside = []  # type: ignore[attr-defined]
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
            else page.outside.append(r.url))
    yield page
    context.close()


def _shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def _ask_chat(page: Any, question: str, count: int) -> Any:
    page.fill("#question textarea", question)
    page.keyboard.press("Enter")
    bots = page.locator("#chat .message.bot")
    bots.nth(count - 1).wait_for(timeout=30_000)
    page.wait_for_function(
        "n => document.querySelectorAll('#chat .message.bot').length >= n && "
        "document.querySelectorAll('#chat .message.bot')[n-1].innerText.includes('[1]') || "
        "document.querySelectorAll('#chat .message.bot')[n-1].innerText.includes('closest')", arg=count,
        timeout=30_000)
    return bots.nth(count - 1)


def test_chat_page_answers_with_citations(server: str, page: Any) -> None:
    page.goto(server + "/", wait_until="load")
    page.wait_for_selector("#question textarea", timeout=30_000)
    answer = _ask_chat(page, "When did the Long March 5 rocket first fly?", 1)
    text = answer.inner_text()
    assert text.startswith("2016 [1]")
    assert "Sources" in text and "The Long March 5 rocket first flew in 2016." in text
    assert answer.locator("mark").first.inner_text() == "2016"
    # A follow-up uses the conversation.
    follow = _ask_chat(page, "When did it first fly?", 2)
    assert follow.inner_text().startswith("2016 [1]")
    _shot(page, "chat-page")
    assert page.outside == [], "the page must not load anything from outside 127.0.0.1"


def test_chat_page_feedback_is_logged(server: str, page: Any) -> None:
    page.goto(server + "/", wait_until="load")
    page.wait_for_selector("#question textarea", timeout=30_000)
    _ask_chat(page, "Where does Cheddar cheese come from?", 1)
    page.locator("#chat button[aria-label='Like']").first.click()
    feedback = SERVED["feedback"]
    deadline = time.time() + 10
    while not (feedback.is_file() and feedback.read_text(encoding="utf-8").strip()) and time.time() < deadline:
        time.sleep(0.1)
    entry = json.loads(feedback.read_text(encoding="utf-8").splitlines()[-1])
    assert entry["liked"] is True
    assert entry["question"] == "Where does Cheddar cheese come from?"
    request = urllib.request.Request(server + "/api/ask", method="POST", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"question": "Where does Cheddar cheese come from?"}).encode())
    with urllib.request.urlopen(request, timeout=30) as response:
        served = json.loads(response.read())["answer"]
    assert "Somerset" in served
    assert entry["answer"] == served, "the plain answer the server gave, no Markdown"


def test_hostile_document_text_stays_inert_in_the_chat_page(server: str, page: Any) -> None:
    page.goto(server + "/", wait_until="load")
    page.wait_for_selector("#question textarea", timeout=30_000)
    answer = _ask_chat(page, HOSTILE_QUESTION, 1)
    page.wait_for_timeout(500)
    text = answer.inner_text()
    assert "<script>" in text or "<img" in text, "hostile markup must show as text"
    assert page.dialogs == []
    assert page.evaluate("window.__pwned") is None
    assert answer.locator("script, img, a[href^='javascript']").count() == 0
    _shot(page, "chat-hostile")


def _assert_plain(element: Any) -> None:
    """LaTeX, bare URLs and HTML in a document show as the characters they are."""
    text = element.inner_text()
    assert "$$x^2 + y^2$$" in text and "https://evil.example/login" in text and "<b>bold</b>" in text
    assert element.locator("a:not([href*='/source/']), b, .katex, math").count() == 0  # source links are ours


def test_latex_urls_and_html_in_a_document_are_plain_text_on_the_chat_page(server: str, page: Any) -> None:
    page.goto(server + "/", wait_until="load")
    page.wait_for_selector("#question textarea", timeout=30_000)
    answer = _ask_chat(page, PLAIN_QUESTION, 1)
    page.wait_for_timeout(500)
    _assert_plain(answer)
    _shot(page, "chat-plain-text")


def test_latex_urls_and_html_in_a_document_are_plain_text_in_the_widget(
    server: str, hosts: dict[str, str], page: Any
) -> None:
    _assert_plain(_ask_widget(page, hosts["allowed"], PLAIN_QUESTION))


def _ask_widget(page: Any, site: str, question: str) -> Any:
    """Open the widget on `site`, ask `question`, and return the answer once its sources show."""
    page.goto(site + "/", wait_until="load")
    page.locator(".rag-launcher").click()
    page.locator(".rag-input").fill(question)
    page.keyboard.press("Enter")
    bot = page.locator(".rag-msg.rag-bot").last
    bot.locator(".rag-cite").first.wait_for(timeout=30_000)
    return bot


def test_widget_on_an_allowed_site_answers_with_sources(server: str, hosts: dict[str, str], page: Any) -> None:
    page.goto(hosts["allowed"] + "/", wait_until="load")
    launcher = page.locator(".rag-launcher")
    launcher.wait_for(timeout=15_000)
    launcher.click()
    panel = page.locator(".rag-panel")
    assert panel.get_attribute("data-state") == "open"
    page.locator(".rag-input").fill("When did the Long March 5 rocket first fly?")
    page.keyboard.press("Enter")
    bot = page.locator(".rag-msg.rag-bot").last
    bot.locator(".rag-answer").wait_for(timeout=30_000)
    assert bot.locator(".rag-answer").inner_text() == "2016"
    cites = bot.locator(".rag-cite")
    assert cites.count() >= 1 and "2016" in cites.first.inner_text()
    assert page.locator("#host-button").is_hidden()  # host CSS hides its own buttons ...
    assert page.locator(".rag-send").is_visible()    # ... but cannot reach into the widget
    _shot(page, "widget-allowed")
    # The conversation survives a reload, and can be reset.
    page.reload(wait_until="load")
    page.locator(".rag-msg.rag-bot .rag-answer").first.wait_for(timeout=15_000)
    assert page.locator(".rag-msg.rag-user").count() == 1
    page.locator(".rag-reset").click()
    assert page.locator(".rag-msg").count() == 0
    assert page.outside == []


def _assert_source_view_shows(page: Any, href: str) -> None:
    """The source view: the document as text, the quote marked and scrolled into view."""
    page.goto(href, wait_until="load")
    mark = page.locator("mark#passage")
    mark.wait_for(timeout=15_000)
    assert "walruses eat <b>clams</b> from the sea floor" in mark.inner_text()
    assert page.locator("pre b, pre script").count() == 0
    assert page.locator("h1").inner_text() == "Walrus guide › Diet"
    box, viewport = mark.bounding_box(), page.viewport_size
    assert box is not None and 0 <= box["y"] < viewport["height"], (box, viewport)
    assert page.evaluate("window.scrollY") > 0, "the passage is far down the page: it was scrolled to"


def test_chat_page_sources_show_title_and_section_and_open_the_source(server: str, page: Any) -> None:
    page.goto(server + "/", wait_until="load")
    page.wait_for_selector("#question textarea", timeout=30_000)
    answer = _ask_chat(page, WALRUS_QUESTION, 1)
    text = answer.inner_text()
    assert "Walrus guide › Diet" in text and "characters" not in text
    href = answer.locator("a[href*='/source/walrus']").first.get_attribute("href")
    assert href is not None and href.endswith("#passage")
    _assert_source_view_shows(page, href if href.startswith("http") else server + href)
    _shot(page, "source-view")


def test_widget_sources_link_to_the_source_view(server: str, hosts: dict[str, str], page: Any) -> None:
    bot = _ask_widget(page, hosts["allowed"], WALRUS_QUESTION)
    link = bot.locator("a.rag-cite-title").first
    assert link.inner_text() == "Walrus guide › Diet"
    href = link.get_attribute("href")
    assert href is not None and href.startswith(server + "/source/walrus?")
    _assert_source_view_shows(page, href)


def test_widget_on_another_site_is_refused(server: str, hosts: dict[str, str], page: Any) -> None:
    page.goto(hosts["denied"] + "/", wait_until="load")
    page.locator(".rag-launcher").click()
    page.locator(".rag-input").fill("When did the Long March 5 rocket first fly?")
    page.keyboard.press("Enter")
    error = page.locator(".rag-msg.rag-error").last
    error.wait_for(timeout=15_000)
    assert "not available on this site" in error.inner_text()
    status = page.evaluate(
        """async (url) => {
            try { const r = await fetch(url, {method: 'POST', headers: {'Content-Type': 'text/plain'},
                                               body: '{"question": "x"}'}); return r.status; }
            catch (e) { return 'blocked'; }
        }""",
        server + "/api/ask",
    )
    assert status == "blocked"  # the API sent 403 without CORS headers: the browser shows nothing
    _shot(page, "widget-denied")


def test_hostile_document_text_stays_inert_in_the_widget(server: str, hosts: dict[str, str], page: Any) -> None:
    bot = _ask_widget(page, hosts["allowed"], HOSTILE_QUESTION)
    page.wait_for_timeout(500)
    assert "<script>" in bot.inner_text() or "<img" in bot.inner_text()
    assert bot.locator("script, img, a:not(.rag-cite-title)").count() == 0  # only our own source links
    assert all(a.get_attribute("href").startswith(f"{server}/source/")
               for a in bot.locator("a.rag-cite-title").all())
    assert page.dialogs == []
    assert page.evaluate("window.__pwned") is None


def test_widget_keyboard_path_and_roles(server: str, hosts: dict[str, str], page: Any) -> None:
    page.goto(hosts["allowed"] + "/", wait_until="load")
    launcher = page.locator(".rag-launcher")
    launcher.wait_for(timeout=15_000)
    assert launcher.get_attribute("aria-label", timeout=5_000)
    launcher.focus()
    page.keyboard.press("Enter")
    panel = page.locator(".rag-panel")
    assert panel.get_attribute("role") == "dialog" and panel.get_attribute("aria-labelledby")
    assert page.locator(".rag-log").get_attribute("role") == "log"
    for selector in (".rag-send", ".rag-reset", ".rag-close"):
        assert page.locator(selector).get_attribute("aria-label")
    focused = page.evaluate("document.querySelector('rag-chat-widget').shadowRoot.activeElement.className")
    assert "rag-input" in focused
    page.keyboard.press("Escape")
    assert panel.get_attribute("data-state") == "closed"
    refocused = page.evaluate("document.querySelector('rag-chat-widget').shadowRoot.activeElement?.className")
    assert "rag-launcher" in (refocused or "")


def test_widget_is_full_screen_on_a_phone(server: str, hosts: dict[str, str], browser: Any) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone = context.new_page()
    try:
        phone.goto(hosts["allowed"] + "/", wait_until="load")
        phone.locator(".rag-launcher").click()
        box = phone.locator(".rag-panel").bounding_box()
        assert box is not None
        assert (round(box["x"]), round(box["y"]), round(box["width"]), round(box["height"])) == (0, 0, 390, 844)
        _shot(phone, "widget-phone")
    finally:
        context.close()


def test_no_chromium_profile_left_behind() -> None:
    # Playwright's contexts are temporary; nothing of the browser lands in the repo.
    assert not (Path(__file__).parent.parent / "Default").exists()
    assert shutil.which("chromium") or Path(CHROMIUM).exists()


def test_chat_page_on_a_phone_keeps_the_short_answer_in_view(server: str, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone = context.new_page()
    try:
        phone.goto(server + "/", wait_until="load")
        phone.wait_for_selector("#question textarea", timeout=30_000)
        for count, question in enumerate((LONG_QUESTION, "When did the Long March 5 rocket first fly?",
                                          LONG_QUESTION), 1):
            answer = _ask_chat(phone, question, count)
            phone.wait_for_timeout(700)
            short = answer.locator("strong").first
            box, chat = short.bounding_box(), phone.locator("#chat").bounding_box()
            assert box is not None and chat is not None
            # The short answer is on screen and inside the visible part of the conversation.
            assert box["y"] >= 0 and box["y"] + box["height"] <= 844, (question, box)
            assert chat["y"] <= box["y"] and box["y"] + box["height"] <= chat["y"] + chat["height"], (question, box, chat)
        # No label sits on top of the messages, and the answering passage is not repeated.
        assert phone.locator("#chat label").count() == 0 or not phone.locator("#chat label").first.is_visible()
        assert "the passage quoted above" in answer.inner_text()
        _shot(phone, "chat-phone")
    finally:
        context.close()


def test_widget_sources_open_in_full_and_esc_closes_after_a_reload(
    server: str, hosts: dict[str, str], browser: Any
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone = context.new_page()
    try:
        cite = _ask_widget(phone, hosts["allowed"], LONG_QUESTION).locator(".rag-cite").first
        closed = cite.bounding_box()
        assert cite.get_attribute("aria-expanded") == "false"
        cite.click()
        opened = cite.bounding_box()
        assert cite.get_attribute("aria-expanded") == "true"
        assert closed is not None and opened is not None and opened["height"] > 2 * closed["height"], (closed, opened)
        # After a reload the panel comes back open, without the focus: Esc still closes it.
        phone.reload(wait_until="load")
        panel = phone.locator(".rag-panel")
        panel.wait_for(timeout=15_000)
        assert panel.get_attribute("data-state") == "open"
        phone.keyboard.press("Escape")
        assert panel.get_attribute("data-state") == "closed"
    finally:
        context.close()
