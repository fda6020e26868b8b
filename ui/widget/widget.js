/*!
 * rag chat widget - a self-contained, embeddable chat panel for the retrieval
 * question-answering assistant.
 *
 *   <script src="https://HOST/widget.js" data-title="Ask our docs"
 *           data-greeting="Hi! Ask me about ..." data-position="right"
 *           data-color="#0b57d0" data-starters="Question one?|Question two?" defer></script>
 *
 * Optional: data-api="https://other-host" (default: the origin of this script's src).
 *
 * Plain ES2020, no dependencies, no build step. Everything is rendered inside an open
 * Shadow DOM; every piece of text from the user or the server goes through
 * textContent / createTextNode only.
 *
 * Public surface: window.RagWidget = { open(), close(), reset() }.
 */
(() => {
  "use strict";

  // Captured synchronously: currentScript is only set while this file executes.
  const SCRIPT = findOwnScript();

  // Guard against the snippet being pasted twice.
  if (window.RagWidget || document.querySelector("rag-chat-widget")) return;

  const DEFAULT_COLOR = "#0b57d0";
  const COLOR_RE = /^#[0-9a-fA-F]{3,8}$|^[a-zA-Z]+$/;
  // The server writes its limits here when it serves this file (rag.config.QueryLimits).
  const LIMITS = /*rag:limits*/ { max_question_chars: 2000, max_history_turns: 10 } /*rag:end*/;
  const MAX_HISTORY = LIMITS.max_history_turns; // earlier questions sent with each request
  const MAX_STORED_MESSAGES = 60;
  const REQUEST_TIMEOUT_MS = 60000;
  const ABSTAIN_TEXT = "I couldn't find that in the documents. The closest passages:";
  const UNAVAILABLE_TEXT = "The assistant is not available on this site.";

  const cfg = readConfig(SCRIPT);
  const STORAGE_KEY = "rag-widget:" + cfg.apiBase;

  // ---------------------------------------------------------------- config

  function findOwnScript() {
    const cs = document.currentScript;
    if (cs && cs.tagName === "SCRIPT" && cs.getAttribute("src")) return cs;
    const scripts = document.getElementsByTagName("script");
    for (let i = scripts.length - 1; i >= 0; i--) {
      const src = scripts[i].getAttribute("src") || "";
      if (/(^|\/)widget\.js([?#].*)?$/.test(src)) return scripts[i];
    }
    return null;
  }

  function attr(el, name) {
    if (!el) return "";
    const v = el.getAttribute(name);
    return v == null ? "" : String(v).trim();
  }

  function httpBase(value) {
    // Parses an absolute (or script-relative) http(s) URL; returns origin + path without
    // a trailing slash, or "" if it is not usable.
    try {
      const u = new URL(value, document.baseURI);
      if (u.protocol !== "http:" && u.protocol !== "https:") return "";
      return (u.origin + u.pathname).replace(/\/+$/, "");
    } catch (_) {
      return "";
    }
  }

  function readConfig(script) {
    let apiBase = "";
    const apiAttr = attr(script, "data-api");
    if (apiAttr) apiBase = httpBase(apiAttr);
    if (!apiBase && script && script.src) {
      try {
        const u = new URL(script.src, document.baseURI);
        if (u.protocol === "http:" || u.protocol === "https:") apiBase = u.origin;
      } catch (_) { /* fall through */ }
    }
    if (!apiBase) apiBase = window.location.origin;

    const color = attr(script, "data-color");
    const starters = attr(script, "data-starters")
      .split("|")
      .map((s) => s.trim())
      .filter(Boolean)
      .slice(0, 6);

    return {
      apiBase,
      title: attr(script, "data-title") || "Ask a question",
      greeting: attr(script, "data-greeting") || "Hi! Ask me a question about the documents.",
      position: attr(script, "data-position").toLowerCase() === "left" ? "left" : "right",
      color: COLOR_RE.test(color) ? color : DEFAULT_COLOR,
      starters,
    };
  }

  /** Black or white text on the accent colour, whichever reads better (hex colours only). */
  function onAccent(color) {
    if (color[0] !== "#") return "#ffffff";
    let h = color.slice(1);
    if (h.length === 3 || h.length === 4) h = h.slice(0, 3).split("").map((c) => c + c).join("");
    else if (h.length === 6 || h.length === 8) h = h.slice(0, 6);
    else return "#ffffff";
    const ch = [0, 2, 4].map((i) => {
      const c = parseInt(h.slice(i, i + 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    const lum = 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
    // Contrast against white vs. against near-black.
    return (1.05 / (lum + 0.05)) >= ((lum + 0.05) / 0.05) ? "#ffffff" : "#111111";
  }

  // ---------------------------------------------------------------- state

  const state = {
    open: false,
    messages: [], // {role: "user"|"bot"|"error", text?, data?}
    history: [], // earlier user questions that were answered, oldest first
  };
  let busy = false;
  let generation = 0; // bumps on reset so late replies of an old conversation are dropped
  let inflight = null; // AbortController of the current request

  function loadState() {
    try {
      const raw = window.sessionStorage.getItem(STORAGE_KEY);
      if (!raw) return;
      const s = JSON.parse(raw);
      if (!s || typeof s !== "object") return;
      state.open = s.open === true;
      if (Array.isArray(s.history)) {
        state.history = s.history.filter((q) => typeof q === "string").slice(-MAX_HISTORY);
      }
      if (Array.isArray(s.messages)) {
        state.messages = s.messages
          .map(cleanStoredMessage)
          .filter(Boolean)
          .slice(-MAX_STORED_MESSAGES);
      }
    } catch (_) {
      /* storage blocked or corrupt: start fresh */
    }
  }

  function saveState() {
    try {
      window.sessionStorage.setItem(
        STORAGE_KEY,
        JSON.stringify({
          v: 1,
          open: state.open,
          history: state.history.slice(-MAX_HISTORY),
          messages: state.messages.slice(-MAX_STORED_MESSAGES),
        })
      );
    } catch (_) {
      /* storage full or blocked: the conversation just won't survive a reload */
    }
  }

  function clearState() {
    state.messages = [];
    state.history = [];
    try {
      window.sessionStorage.removeItem(STORAGE_KEY);
    } catch (_) { /* ignore */ }
    saveState();
  }

  function cleanStoredMessage(m) {
    if (!m || typeof m !== "object") return null;
    if (m.role === "user" || m.role === "error") {
      return typeof m.text === "string" ? { role: m.role, text: m.text } : null;
    }
    if (m.role === "bot") {
      const data = cleanAnswer(m.data);
      return data ? { role: "bot", data } : null;
    }
    return null;
  }

  function str(v) {
    if (typeof v === "string") return v;
    if (typeof v === "number" && Number.isFinite(v)) return String(v);
    return "";
  }

  /** Keeps only the fields the widget renders, each coerced to a plain string/number/bool. */
  function cleanAnswer(d) {
    if (!d || typeof d !== "object") return null;
    const cites = Array.isArray(d.citations) ? d.citations : [];
    return {
      answer: str(d.answer),
      abstained: d.abstained === true,
      citations: cites
        .filter((c) => c && typeof c === "object")
        .slice(0, 20)
        .map((c, i) => ({
          n: Number.isFinite(c.n) ? c.n : i + 1,
          doc_id: str(c.doc_id),
          title: str(c.title),
          section: str(c.section),
          url: str(c.url),
          quote: str(c.quote),
        })),
    };
  }

  // ---------------------------------------------------------------- DOM helpers

  function h(tag, props, children) {
    const el = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v == null || v === false) continue;
        if (k === "class") el.className = v;
        else if (k === "text") el.textContent = v;
        else el.setAttribute(k, v === true ? "" : String(v));
      }
    }
    if (children) for (const c of children) if (c) el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    return el;
  }

  function svgIcon(paths, size) {
    const NS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", String(size));
    svg.setAttribute("height", String(size));
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    for (const d of paths) {
      const p = document.createElementNS(NS, "path");
      p.setAttribute("d", d);
      svg.appendChild(p);
    }
    return svg;
  }

  const ICON_CHAT = ["M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"];
  const ICON_CLOSE = ["M6 6l12 12M18 6L6 18"];
  const ICON_RESET = ["M4 12a8 8 0 1 0 2.4-5.7", "M4 4v5h5"];
  const ICON_SEND = ["M4 12l16-8-6 16-2.5-6.5z", "M11.5 13.5L20 4"];

  // ---------------------------------------------------------------- styles (static, no dynamic data)

  const CSS = `
:host {
  all: initial !important;
  display: block !important;
  position: static !important;
  contain: style !important;
}
.rag-root {
  --rag-accent: #0b57d0;
  --rag-on-accent: #ffffff;
  --rag-text: #1f1f1f;
  --rag-muted: #5f6368;
  --rag-border: #dadce0;
  --rag-bg: #ffffff;
  --rag-soft: #f1f3f4;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif;
  font-size: 14px;
  line-height: 1.45;
  font-weight: 400;
  font-style: normal;
  color: var(--rag-text);
  text-align: left;
  letter-spacing: normal;
  -webkit-font-smoothing: antialiased;
}
.rag-root *, .rag-root *::before, .rag-root *::after { box-sizing: border-box; }
button, textarea { font: inherit; color: inherit; letter-spacing: inherit; }
button { cursor: pointer; }
:focus { outline: none; }
:focus-visible { outline: 3px solid var(--rag-accent); outline-offset: 2px; }
.rag-sr {
  position: absolute !important; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}

.rag-launcher {
  position: fixed; bottom: 20px; right: 20px; z-index: 2147483000;
  width: 56px; height: 56px; padding: 0; margin: 0; border: 0; border-radius: 50%;
  display: flex; align-items: center; justify-content: center;
  background: var(--rag-accent); color: var(--rag-on-accent);
  box-shadow: 0 4px 14px rgba(0, 0, 0, 0.28);
  transition: transform 0.15s ease;
}
.rag-launcher:hover { transform: scale(1.05); }
.rag-launcher svg { fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; }
.rag-root[data-position="left"] .rag-launcher { right: auto; left: 20px; }

.rag-panel {
  position: fixed; bottom: 88px; right: 20px; z-index: 2147483001;
  width: 360px; height: 520px; max-width: calc(100vw - 40px); max-height: calc(100vh - 108px);
  display: flex; flex-direction: column; overflow: hidden;
  background: var(--rag-bg); border: 1px solid var(--rag-border); border-radius: 14px;
  box-shadow: 0 12px 40px rgba(0, 0, 0, 0.22), 0 2px 8px rgba(0, 0, 0, 0.12);
}
.rag-panel[hidden] { display: none; }
.rag-root[data-position="left"] .rag-panel { right: auto; left: 20px; }

.rag-header {
  flex: none; display: flex; align-items: center; gap: 4px;
  padding: 10px 8px 10px 16px; margin: 0;
  background: var(--rag-accent); color: var(--rag-on-accent);
}
.rag-title {
  flex: 1; min-width: 0; margin: 0; padding: 0;
  font-size: 16px; font-weight: 600; line-height: 1.3;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
}
.rag-icon-btn {
  flex: none; width: 36px; height: 36px; padding: 0; margin: 0; border: 0; border-radius: 8px;
  display: flex; align-items: center; justify-content: center;
  background: transparent; color: inherit;
}
.rag-icon-btn:hover { background: rgba(127, 127, 127, 0.22); }
.rag-icon-btn:focus-visible { outline: 2px solid currentColor; outline-offset: -3px; }
.rag-icon-btn svg { fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; }

.rag-log {
  flex: 1; min-height: 0; overflow-y: auto; overscroll-behavior: contain;
  padding: 14px; margin: 0; display: flex; flex-direction: column; gap: 10px;
  background: var(--rag-bg);
}
.rag-log:focus-visible { outline-offset: -3px; }
.rag-greeting, .rag-msg {
  max-width: 88%; padding: 9px 12px; margin: 0; border-radius: 12px;
  white-space: pre-wrap; overflow-wrap: anywhere; word-break: normal;
}
.rag-greeting, .rag-bot { align-self: flex-start; background: var(--rag-soft); border-bottom-left-radius: 4px; }
.rag-user {
  align-self: flex-end; background: var(--rag-accent); color: var(--rag-on-accent);
  border-bottom-right-radius: 4px;
}
.rag-error {
  align-self: flex-start; background: #fce8e6; color: #a50e0e; border: 1px solid #f5c2bd;
  border-bottom-left-radius: 4px;
}
.rag-bot { white-space: normal; }
.rag-answer { display: block; font-weight: 700; font-size: 15px; margin: 0 0 6px; white-space: pre-wrap; }
.rag-quote {
  margin: 0 0 8px; padding: 2px 0 2px 10px; border-left: 3px solid var(--rag-accent);
  color: var(--rag-text); white-space: pre-wrap;
}
.rag-quote mark { background: #fde68a; color: #111111; padding: 0 1px; border-radius: 2px; }
.rag-abstain { margin: 0 0 6px; }
.rag-sources-label { margin: 4px 0 2px; font-size: 12px; font-weight: 600; color: var(--rag-muted); text-transform: uppercase; letter-spacing: 0.04em; }
.rag-sources { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 4px; }
.rag-cite {
  margin: 0; padding: 0; font-size: 12.5px; line-height: 1.4; color: var(--rag-muted);
  overflow: hidden; text-overflow: ellipsis; white-space: normal;
  display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 2; line-clamp: 2;
}
.rag-cite { cursor: pointer; }
.rag-cite:focus-visible { outline: 2px solid var(--rag-accent, #0b57d0); outline-offset: 1px; }
.rag-cite.rag-cite-open { display: block; -webkit-line-clamp: unset; line-clamp: unset; overflow: visible; }
.rag-cite-n { font-weight: 600; color: var(--rag-text); }
.rag-cite-title { font-weight: 600; color: var(--rag-text); }
a.rag-cite-title { color: var(--rag-accent, #0b57d0); text-decoration: underline; }

.rag-starters { display: flex; flex-direction: column; align-items: flex-start; gap: 6px; margin: 2px 0 0; }
.rag-starters[hidden] { display: none; }
.rag-starter {
  max-width: 88%; padding: 7px 12px; margin: 0; text-align: left;
  background: var(--rag-bg); color: var(--rag-text);
  border: 1px solid var(--rag-accent); border-radius: 16px; line-height: 1.35;
}
.rag-starter:hover { background: var(--rag-soft); }

.rag-typing { align-self: flex-start; display: flex; gap: 4px; padding: 12px 14px; background: var(--rag-soft); border-radius: 12px; }
.rag-typing span.rag-dot {
  width: 7px; height: 7px; border-radius: 50%; background: var(--rag-muted);
  animation: rag-bounce 1.1s infinite ease-in-out;
}
.rag-typing span.rag-dot:nth-child(2) { animation-delay: 0.15s; }
.rag-typing span.rag-dot:nth-child(3) { animation-delay: 0.3s; }
@keyframes rag-bounce { 0%, 80%, 100% { opacity: 0.3; transform: translateY(0); } 40% { opacity: 1; transform: translateY(-4px); } }

.rag-form {
  flex: none; display: flex; align-items: flex-end; gap: 8px; margin: 0;
  padding: 10px; border-top: 1px solid var(--rag-border); background: var(--rag-bg);
}
.rag-input {
  flex: 1; min-width: 0; min-height: 40px; max-height: 120px; resize: none; margin: 0;
  padding: 9px 12px; border: 1px solid var(--rag-border); border-radius: 10px;
  background: #ffffff; color: var(--rag-text); line-height: 1.4;
}
.rag-input::placeholder { color: #70757a; opacity: 1; }
.rag-input:focus-visible, .rag-input:focus { outline: 2px solid var(--rag-accent); outline-offset: 0; border-color: transparent; }
.rag-send {
  flex: none; width: 40px; height: 40px; padding: 0; margin: 0; border: 0; border-radius: 10px;
  display: flex; align-items: center; justify-content: center;
  background: var(--rag-accent); color: var(--rag-on-accent);
}
.rag-send svg { fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; }
.rag-send:disabled { opacity: 0.45; cursor: not-allowed; }

@media (max-width: 480px) {
  .rag-panel, .rag-root[data-position="left"] .rag-panel {
    top: 0; left: 0; right: auto; bottom: auto;
    width: 100vw; height: 100vh; height: 100dvh;
    max-width: none; max-height: none; border: 0; border-radius: 0;
  }
  .rag-root[data-state="open"] .rag-launcher { display: none; }
}
@media (prefers-reduced-motion: reduce) {
  .rag-launcher { transition: none; }
  .rag-typing span.rag-dot { animation: none; opacity: 0.7; }
}
@media (forced-colors: active) {
  .rag-launcher, .rag-send, .rag-panel, .rag-msg, .rag-greeting { border: 1px solid CanvasText; }
}
`;

  // ---------------------------------------------------------------- build

  let host, root, launcher, panel, log, input, sendBtn, resetBtn, closeBtn, startersEl, typingEl;

  function build() {
    host = document.createElement("rag-chat-widget");
    const shadow = host.attachShadow({ mode: "open" });

    const style = document.createElement("style");
    style.textContent = CSS;
    shadow.appendChild(style);

    root = h("div", { class: "rag-root", "data-position": cfg.position, "data-state": "closed" });
    // Validated by COLOR_RE above; setProperty cannot break out of the declaration anyway.
    root.style.setProperty("--rag-accent", cfg.color);
    root.style.setProperty("--rag-on-accent", onAccent(cfg.color));

    launcher = h("button", {
      type: "button",
      class: "rag-launcher",
      "aria-label": "Open chat: " + cfg.title,
      "aria-expanded": "false",
      "aria-controls": "rag-panel",
      title: cfg.title,
    });
    launcher.appendChild(svgIcon(ICON_CHAT, 26));

    const title = h("h2", { class: "rag-title", id: "rag-title", text: cfg.title });
    resetBtn = h("button", { type: "button", class: "rag-reset rag-icon-btn", "aria-label": "New conversation", title: "New conversation" });
    resetBtn.appendChild(svgIcon(ICON_RESET, 20));
    closeBtn = h("button", { type: "button", class: "rag-close rag-icon-btn", "aria-label": "Close chat", title: "Close chat" });
    closeBtn.appendChild(svgIcon(ICON_CLOSE, 20));
    const header = h("div", { class: "rag-header" }, [title, resetBtn, closeBtn]);

    log = h("div", {
      class: "rag-log",
      role: "log",
      "aria-live": "polite",
      "aria-relevant": "additions",
      "aria-label": "Conversation",
      tabindex: "0",
    });

    input = h("textarea", {
      class: "rag-input",
      "aria-label": "Your question",
      placeholder: "Ask a question\u2026",
      rows: "1",
      maxlength: String(LIMITS.max_question_chars),
      autocomplete: "off",
      enterkeyhint: "send",
    });
    sendBtn = h("button", { type: "submit", class: "rag-send", "aria-label": "Send", title: "Send" });
    sendBtn.appendChild(svgIcon(ICON_SEND, 20));
    const form = h("form", { class: "rag-form", novalidate: true }, [input, sendBtn]);

    panel = h("div", {
      class: "rag-panel",
      id: "rag-panel",
      role: "dialog",
      "aria-modal": "false",
      "aria-labelledby": "rag-title",
      "data-state": "closed",
      hidden: true,
    }, [header, log, form]);

    // DOM order gives the tab order: launcher, reset, close, log, starters, input, send.
    root.appendChild(launcher);
    root.appendChild(panel);
    shadow.appendChild(root);

    launcher.addEventListener("click", () => (state.open ? close(true) : open()));
    closeBtn.addEventListener("click", () => close(true));
    resetBtn.addEventListener("click", () => {
      reset();
      input.focus();
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      submit();
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        submit();
      }
    });
    input.addEventListener("input", autosize);
    // Esc anywhere in the widget (panel or launcher) closes the panel.
    root.addEventListener("keydown", (e) => {
      if ((e.key === "Escape" || e.key === "Esc") && state.open) {
        e.preventDefault();
        e.stopPropagation();
        close(true);
      }
    });
    // So does Esc on the host page while the panel is open (after a reload the panel comes back
    // open without taking the focus, so the widget would not hear it), unless the page used it.
    document.addEventListener("keydown", (e) => {
      if ((e.key === "Escape" || e.key === "Esc") && state.open && !e.defaultPrevented) close(false);
    });

    document.body.appendChild(host);
  }

  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, 120) + "px";
  }

  // ---------------------------------------------------------------- rendering

  function renderGreeting() {
    log.appendChild(h("div", { class: "rag-greeting", text: cfg.greeting }));
    if (cfg.starters.length) {
      startersEl = h("div", { class: "rag-starters", role: "group", "aria-label": "Example questions" });
      for (const q of cfg.starters) {
        const b = h("button", { type: "button", class: "rag-starter", text: q });
        b.addEventListener("click", () => {
          if (busy) return;
          ask(q);
          input.focus();
        });
        startersEl.appendChild(b);
      }
      log.appendChild(startersEl);
    } else {
      startersEl = null;
    }
  }

  function updateStarters() {
    if (startersEl) startersEl.hidden = state.messages.length > 0;
  }

  function renderAll() {
    removeTyping();
    log.textContent = "";
    renderGreeting();
    for (const m of state.messages) log.appendChild(renderMessage(m));
    updateStarters();
    scrollToEnd();
  }

  function renderMessage(m) {
    if (m.role === "user") return h("div", { class: "rag-msg rag-user", text: m.text });
    if (m.role === "error") return h("div", { class: "rag-msg rag-error", text: m.text });
    return renderBot(m.data);
  }

  /** Appends text to el, wrapping the first occurrence of needle in <mark> (text nodes only). */
  function appendHighlighted(el, text, needle) {
    let idx = -1;
    if (needle) {
      idx = text.indexOf(needle);
      if (idx < 0) {
        const lt = text.toLowerCase();
        const ln = needle.toLowerCase();
        // Only trust case-insensitive positions when lowercasing kept the lengths.
        if (lt.length === text.length && ln.length === needle.length) idx = lt.indexOf(ln);
      }
    }
    if (idx < 0) {
      el.appendChild(document.createTextNode(text));
      return;
    }
    const before = text.slice(0, idx);
    const hit = text.slice(idx, idx + needle.length);
    const after = text.slice(idx + needle.length);
    if (before) el.appendChild(document.createTextNode(before));
    const mark = document.createElement("mark");
    mark.appendChild(document.createTextNode(hit));
    el.appendChild(mark);
    if (after) el.appendChild(document.createTextNode(after));
  }

  // "Title › Section": the section path without a first heading that repeats the title.
  function sourceLabel(c) {
    const title = c.title || c.doc_id || "Untitled";
    const parts = c.section ? c.section.split(" \u203a ").filter(Boolean) : [];
    if (parts.length && parts[0] === title) parts.shift();
    return [title].concat(parts).join(" \u203a ");
  }

  // The citation's link, resolved against the assistant's server; only http(s) links are kept.
  function sourceHref(url) {
    if (!url) return null;
    try {
      const u = new URL(url, cfg.apiBase + "/");
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  function renderSources(citations, withLabel) {
    const frag = document.createDocumentFragment();
    if (!citations.length) return frag;
    if (withLabel) frag.appendChild(h("div", { class: "rag-sources-label", "aria-hidden": "true", text: "Sources" }));
    const list = h("ol", { class: "rag-sources", "aria-label": "Sources" });
    for (const c of citations) {
      // Two lines at first; a click, Enter or Space shows the whole quote (a phone has no hover).
      const li = h("li", { class: "rag-cite", title: c.quote || null, tabindex: "0", role: "button",
                           "aria-expanded": "false" });
      const toggle = () => {
        const opened = li.classList.toggle("rag-cite-open");
        li.setAttribute("aria-expanded", opened ? "true" : "false");
      };
      li.addEventListener("click", toggle);
      li.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(); }
      });
      li.appendChild(h("span", { class: "rag-cite-n", text: "[" + c.n + "]" }));
      li.appendChild(document.createTextNode(" "));
      const label = sourceLabel(c);
      const href = sourceHref(c.url);
      if (href) {
        const link = h("a", { class: "rag-cite-title", href, target: "_blank", rel: "noopener noreferrer",
                              text: label });
        link.addEventListener("click", (e) => e.stopPropagation());  // open the source, not the quote
        li.appendChild(link);
      } else {
        li.appendChild(h("span", { class: "rag-cite-title", text: label }));
      }
      if (c.quote) {
        li.appendChild(document.createTextNode(" \u2014 "));
        li.appendChild(h("span", { class: "rag-cite-quote", text: c.quote }));
      }
      list.appendChild(li);
    }
    frag.appendChild(list);
    return frag;
  }

  function renderBot(d) {
    const el = h("div", { class: "rag-msg rag-bot" });
    if (!d.abstained) {
      el.appendChild(h("strong", { class: "rag-answer", text: d.answer }));
      const first = d.citations[0];
      if (first && first.quote) {
        const q = h("blockquote", { class: "rag-quote" });
        appendHighlighted(q, first.quote, d.answer);
        el.appendChild(q);
      }
      el.appendChild(renderSources(d.citations, true));
    } else {
      el.appendChild(h("p", { class: "rag-abstain", text: ABSTAIN_TEXT }));
      el.appendChild(renderSources(d.citations, false));
    }
    return el;
  }

  function addMessage(m) {
    state.messages.push(m);
    if (state.messages.length > MAX_STORED_MESSAGES) state.messages.splice(0, state.messages.length - MAX_STORED_MESSAGES);
    saveState();
    const typingWasShown = !!typingEl;
    removeTyping();
    log.appendChild(renderMessage(m));
    if (typingWasShown && busy) showTyping();
    updateStarters();
    scrollToEnd();
  }

  function showTyping() {
    if (typingEl) return;
    typingEl = h("div", { class: "rag-typing", role: "status" }, [
      h("span", { class: "rag-dot", "aria-hidden": "true" }),
      h("span", { class: "rag-dot", "aria-hidden": "true" }),
      h("span", { class: "rag-dot", "aria-hidden": "true" }),
      h("span", { class: "rag-sr", text: "Looking for an answer\u2026" }),
    ]);
    log.appendChild(typingEl);
    scrollToEnd();
  }

  function removeTyping() {
    if (typingEl) {
      typingEl.remove();
      typingEl = null;
    }
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  function setBusy(b) {
    busy = b;
    sendBtn.disabled = b;
    log.setAttribute("aria-busy", b ? "true" : "false");
    if (startersEl) for (const btn of startersEl.querySelectorAll("button")) btn.disabled = b;
  }

  // ---------------------------------------------------------------- network

  function retryAfterSeconds(res, body) {
    const hdr = res.headers.get("Retry-After");
    if (hdr) {
      const s = hdr.trim();
      if (/^\d+$/.test(s)) return parseInt(s, 10);
      const t = Date.parse(s);
      if (!Number.isNaN(t)) return Math.max(1, Math.ceil((t - Date.now()) / 1000));
    }
    if (body && typeof body === "object") {
      const v = body.retry_after != null ? body.retry_after : body.retryAfter;
      if (typeof v === "number" && Number.isFinite(v) && v >= 0) return Math.ceil(v);
    }
    return null;
  }

  function detailText(body) {
    if (!body || typeof body !== "object") return "";
    const d = body.detail != null ? body.detail : body.message;
    if (typeof d === "string") return d;
    if (Array.isArray(d)) {
      // FastAPI validation errors: [{loc, msg, type}, ...]
      return d
        .map((e) => (e && typeof e === "object" ? str(e.msg) : str(e)))
        .filter(Boolean)
        .join("; ");
    }
    if (d && typeof d === "object") return str(d.msg) || str(d.message);
    return "";
  }

  async function readJson(res) {
    try {
      return await res.json();
    } catch (_) {
      return null;
    }
  }

  function errorMessage(res, body) {
    const status = res.status;
    if (status === 429) {
      const n = retryAfterSeconds(res, body);
      return n != null
        ? "Too many questions \u2014 please wait " + n + (n === 1 ? " second" : " seconds")
        : "Too many questions \u2014 please wait a moment";
    }
    if (status === 413 || status === 422) {
      return detailText(body) || "Something went wrong (HTTP " + status + ")";
    }
    if (status === 403) return UNAVAILABLE_TEXT;
    return "Something went wrong (HTTP " + status + ")";
  }

  function submit() {
    if (busy) return;
    const q = input.value.trim();
    if (!q) return;
    input.value = "";
    autosize();
    ask(q);
  }

  async function ask(question) {
    const q = String(question).trim();
    if (!q || busy) return;
    const gen = generation;
    const history = state.history.slice(-MAX_HISTORY);

    addMessage({ role: "user", text: q });
    setBusy(true);
    showTyping();

    const ctrl = typeof AbortController === "function" ? new AbortController() : null;
    inflight = ctrl;
    const timer = ctrl ? setTimeout(() => ctrl.abort(), REQUEST_TIMEOUT_MS) : null;

    let outcome; // {data} or {error}
    try {
      const res = await fetch(cfg.apiBase + "/api/ask", {
        method: "POST",
        mode: "cors",
        credentials: "omit",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ question: q, history }),
        signal: ctrl ? ctrl.signal : undefined,
      });
      const body = await readJson(res);
      if (!res.ok) {
        outcome = { error: errorMessage(res, body) };
      } else {
        const data = cleanAnswer(body);
        outcome = data ? { data } : { error: "Something went wrong (unreadable answer)" };
      }
    } catch (e) {
      if (e && e.name === "AbortError") {
        outcome = gen === generation ? { error: "The assistant took too long to answer. Please try again." } : null;
      } else {
        // TypeError: network failure or the API refused this origin (CORS).
        outcome = { error: UNAVAILABLE_TEXT };
      }
    } finally {
      if (timer) clearTimeout(timer);
      if (inflight === ctrl) inflight = null;
    }

    if (gen !== generation || !outcome) return; // conversation was reset meanwhile
    setBusy(false);
    removeTyping();
    if (outcome.data) {
      state.history.push(q);
      if (state.history.length > MAX_HISTORY) state.history.splice(0, state.history.length - MAX_HISTORY);
      addMessage({ role: "bot", data: outcome.data });
    } else {
      addMessage({ role: "error", text: outcome.error });
      if (!input.value) {
        input.value = q; // let the user retry without retyping
        autosize();
      }
    }
  }

  // ---------------------------------------------------------------- open / close / reset

  function setOpen(isOpen) {
    state.open = isOpen;
    panel.hidden = !isOpen;
    const s = isOpen ? "open" : "closed";
    panel.setAttribute("data-state", s);
    root.setAttribute("data-state", s);
    launcher.setAttribute("aria-expanded", isOpen ? "true" : "false");
  }

  function open() {
    setOpen(true);
    saveState();
    scrollToEnd();
    input.focus();
  }

  function close(returnFocus) {
    const hadFocus = host.shadowRoot.activeElement != null;
    setOpen(false);
    saveState();
    if (returnFocus !== false || hadFocus) launcher.focus();
  }

  function reset() {
    generation++;
    if (inflight) {
      try { inflight.abort(); } catch (_) { /* ignore */ }
      inflight = null;
    }
    setBusy(false);
    clearState();
    input.value = "";
    autosize();
    renderAll();
  }

  // ---------------------------------------------------------------- boot

  function init() {
    if (document.querySelector("rag-chat-widget")) return;
    loadState();
    build();
    renderAll();
    setBusy(false);
    // Restore the open state without stealing focus from the host page on load.
    setOpen(state.open);
  }

  window.RagWidget = Object.freeze({
    open: () => { if (panel) open(); },
    close: () => { if (panel) close(false); },
    reset: () => { if (panel) reset(); },
  });

  if (document.body) init();
  else document.addEventListener("DOMContentLoaded", init, { once: true });
})();
