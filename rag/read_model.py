"""The learned reader: a small transformer (all-MiniLM-L6-v2's first layers, fine-tuned for
extractive QA by `rag.train_reader`) reads windows around the best sentences and marks the
answer's first and last token, or "no answer here". It runs on ONNX Runtime: no torch.

The rules still choose where to look: the heuristic reader ranks the sentences of the
retrieved passages, and the model reads the top `windows` of them, each with the sentences
around it (the heading or term a sentence refers back to sits in the one before it). Its
answer is the best span of all windows; the evidence is the sentence that holds it."""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import AnswerPolicy, ModelReaderConfig
from rag.conversation import name_the_person
from rag.errors import ModelError
from rag.lexical import tokenize
from rag.read_heuristic import HeuristicReader, ScoredSentence, SentenceIndex
from rag.reader_windows import Window, assemble, load_tokenizer, question_ids
from rag.types import PERMALINKS, Extraction, Passage, Query, Span, name_of

MODEL_DIR = Path(__file__).parent / "models" / "reader"
"""The shipped model: reader.onnx, tokenizer.json, reader.json (calibration), MODEL_CARD.md."""

NO_SPAN = -50.0
"""The margin of a window where no span could be chosen (far below any real one)."""
_LATIN = re.compile(r"[A-Za-z]")
_WHOLE_CELL = 6
"""A table cell of at most this many words is answered whole when the model's span is in it."""
_NAMED_COLUMN = 2.0
"""Added to the logit of spans in a cell whose column name shares a term with the question, a
term each (as `ModelReaderConfig.centre_bonus` is to the rules' sentence)."""
_AS_TRAINED = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
"""Typographic quotes as the ASCII ones the model read in training (98% of the apostrophes and
double quotes of its data), one character for one, so offsets into the text stay exact: "Xi'an"
typed by a user and "Xi\u2019an" in a document were different tokens to it."""
_LETTER = re.compile(r"[^\W\d_]")
_HOW_LONG = re.compile(r"\bhow long\b", re.IGNORECASE)
_CLOCK = re.compile(r"(?:\d{1,2}(?:[:.]\d{2})?\s*[ap]\.?m\.?|\d{2}:\d{2}|noon|midnight)", re.IGNORECASE)
"""A time of day ("7am", "6.30 pm", "18:30"): never what "how long" asks (a duration, a length).
A one-digit hour with minutes ("1:45") may be a duration, and is not one."""
_ASKS_DEFAULT = re.compile(r"\bdefault(?:s|ed)?\b", re.IGNORECASE)
_CALLABLE = re.compile(r"(?:[\w*]+\s+\**)*?([A-Za-z_][\w.]*)\(")
_PARAMETER = re.compile(r"[\s\[\]]*\**([A-Za-z_]\w*)\s*(?::[^=]*?)?=\s*(\S.*?)\s*$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Features:
    """What the confidence is computed from: the model's margin, and the rules' cosine and
    question coverage of the sentence its window was centred on."""

    margin: float
    dense: float
    coverage: float

    def span(self) -> list[float]:
        return [self.margin]

    def answer(self) -> list[float]:
        return [self.margin, self.dense, self.coverage]


@dataclass(frozen=True, slots=True)
class Logistic:
    """sigmoid(weights · x + bias), fitted by `rag.train_reader.calibrate`."""

    weights: tuple[float, ...]
    bias: float

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Logistic:
        return cls(tuple(float(w) for w in data["weights"]), float(data["bias"]))

    def __call__(self, x: Sequence[float]) -> float:
        if len(x) != len(self.weights):
            raise ValueError(f"{len(x)} features for {len(self.weights)} weights")
        z = self.bias + sum(w * v for w, v in zip(self.weights, x, strict=True))
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


@dataclass(frozen=True, slots=True)
class Reading:
    """The model's best span in one window, as document character offsets."""

    row: int
    """The sentence the window was centred on."""
    rows: tuple[int, ...]
    """Every sentence in the window."""
    answer: Span | None
    answer_row: int
    """The sentence holding the answer (spans never cross sentences); `row` when none."""
    margin: float
    """Best span logit less the no-answer logit."""


class ModelReader:
    """Reads with the shipped QA model. Two calibrated chances decide: that the question is
    answered in the evidence (the extraction's confidence: below the policy's threshold the
    assistant declines) and that the span is right (below `trust_span_from`, the answer is the
    evidence sentence instead of the span)."""

    name = "model"

    def __init__(
        self,
        sentences: SentenceIndex,
        heuristic: HeuristicReader | None = None,
        config: ModelReaderConfig | None = None,
        model_dir: Path | str = MODEL_DIR,
    ) -> None:
        self.sentences = sentences
        self.heuristic = HeuristicReader(sentences) if heuristic is None else heuristic
        self.config = ModelReaderConfig() if config is None else config
        model_dir = Path(model_dir)
        onnx_path, meta_path = model_dir / "reader.onnx", model_dir / "reader.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            self.tokenizer = load_tokenizer(model_dir / "tokenizer.json")
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = self.config.threads
            options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # a missing or damaged file: say which, not a traceback
            raise ModelError(f"cannot load the reader model in {model_dir}: {type(exc).__name__}: {exc}") from exc
        try:
            self.max_len = int(meta["max_len"])
            calibration = meta["calibration"]
            self.span_fit = Logistic.from_dict(calibration["span"])
            self.answer_fit = Logistic.from_dict(calibration["answer"])
            # The answer policy's threshold for this reader, chosen at calibration.
            self.abstain_below = float(meta.get("abstain_below", AnswerPolicy().abstain_below))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{meta_path} is not a reader description ({type(exc).__name__}: {exc})") from exc
        self._encode_lock = threading.Lock()
        self._spare = threading.Semaphore(1)
        self._reading = 0  # questions being read now, by all threads
        self._count_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def read(self, query: Query, passages: Sequence[Passage]) -> tuple[Extraction, ...]:
        return self.read_scored(query, passages)[0]

    def read_scored(self, query: Query, passages: Sequence[Passage]) -> tuple[tuple[Extraction, ...], Features | None]:
        """The extractions, and the features the confidence was computed from (for calibration)."""
        with self._count_lock:
            self._reading += 1
        try:
            return self._read_scored(query, passages)
        finally:
            with self._count_lock:
                self._reading -= 1

    def _read_scored(self, query: Query, passages: Sequence[Passage]) -> tuple[tuple[Extraction, ...], Features | None]:
        # A follow-up is read question first, then the turn it leans on and the carried answer:
        # "When did he found it? Who founded it? Tomas Berg" lets "he" be read as Tomas Berg,
        # and the model answers the question it reads first, not the earlier one (follow-up F1
        # on xian-dev: 0.43 with the earlier turn first, 0.76 with the question alone, 0.95 so).
        # The rules still rank sentences by the whole resolved text. Only the question as asked
        # rules out spans below.
        # Read around the headings too: a heading ranks high on the question's words, and the
        # window around it holds its section's first sentences ("listen_port" above "The port
        # that agents send logs to. Defaults to 5140."); the evidence is never one.
        ranked = self.heuristic.score_sentences(query, passages, headings=True)
        evidence_rows = [s for s in ranked if not self.heuristic.names_only(s.row)]  # what may be the evidence
        if not evidence_rows:
            return (), None
        cfg = self.config
        # A follow-up whose "he" or "she" is the person the earlier answer named is read as the
        # question it then is alone: the model, reading "Which flat does she live in? Who is the
        # treasurer? Lin Chen", answered the first question with the chair's name beside it.
        reads = name_the_person(query.question, query.carried) or query.question_first()
        # A follow-up's sentences are ranked by the turn it leans on too, so the rules' pick tends
        # to answer that turn ("1,280" again for "And earthenware?"): no bonus for it there.
        bonus = cfg.centre_bonus if query.text == query.question else 0.0
        # The windows that may be read, in order: around each of the best sentences not inside
        # an earlier one. The first is read; each next one only while no margin so far is sure.
        candidates = iter(ranked[: cfg.windows])
        covered: set[int] = set()

        def next_window() -> tuple[float, int, tuple[Window, np.ndarray]] | None:
            for s in candidates:
                if s.row not in covered:  # else inside an earlier window
                    prepared = self._prepare(reads, s.row)
                    covered.update(int(r) for r in prepared[1])
                    return cfg.rules_weight * (s.score - ranked[0].score), s.row, prepared
            return None

        readings: list[tuple[float, Reading]] = []  # the margin with the rules' word on the window's sentence

        def sure() -> bool:
            return bool(readings) and max(r.margin for _, r in readings) >= cfg.look_further_below

        window = next_window()
        while window is not None and not sure():
            rules, row, prepared = window
            # The window after this one is read at the same time on the spare thread when this is
            # the only question being read, and kept only if reading in turn would have reached it.
            following = next_window() if self._may_read_ahead() else None
            ahead = None if following is None else self._read_ahead(following, query.question, bonus)
            reading = self._read(prepared, row, query.question, bonus)
            readings.append((reading.margin + rules, reading))
            if following is None or ahead is None:
                window = following if following is not None else (None if sure() else next_window())
                continue
            later = ahead.result()
            if sure():
                break
            readings.append((later.margin + following[0], later))
            window = None if sure() else next_window()
        best = max(readings, key=lambda chosen: chosen[0])[1]
        index = self.sentences
        # With no span from the model, the evidence is the rules' best sentence. (Even a span the
        # model is far from sure of picks the evidence better than the rules do: evidence@1 fell
        # on squad-public, xian-dev and pydocs-dev when a margin under -4, -2, 0 or 1 handed the
        # choice back to the rules.)
        evidence = evidence_rows[0].row if best.answer is None else best.answer_row
        signed = self.signature_default(query.question, ranked) if cfg.signature_defaults else None
        if signed is not None:  # the default a signature gives the parameter asked about
            best, evidence = Reading(signed[0], (signed[0],), signed[1], signed[0], best.margin), signed[0]
        table = index.table_of(evidence) if cfg.table_rows_by_rules and best.answer is not None else None
        if table is not None:  # a table's row: the one the rules rank first (see `table_rows_by_rules`)
            row = next((s.row for s in ranked if s.row == evidence or index.table_of(s.row) == table), evidence)
            if row != evidence:
                in_row = self.read_window(reads, row, query.question, bonus, only_row=True).answer
                best, evidence = Reading(best.row, best.rows, in_row, row, best.margin), row
            if cfg.table_cells:
                cell = self.read_cells(reads, evidence, query.question)
                if cell is not None:
                    best = Reading(best.row, best.rows, cell, evidence, best.margin)
        centre = next(s for s in ranked if s.row == best.row)
        features = Features(best.margin, centre.dense, centre.coverage)
        confidence = self.answer_fit(features.answer()) if self.reads(query.question) else 0.0
        trusted = best.answer is not None and self.span_fit(features.span()) >= cfg.trust_span_from
        first = Extraction(
            doc_id=index.doc_id(evidence),
            chunk_id=index.chunk_ids[evidence],
            evidence=index.span(evidence),
            answer=best.answer if trusted else None,
            score=round(best.margin, 4),
            confidence=confidence,
            reader=self.name,
        )
        rest = [
            Extraction(index.doc_id(s.row), index.chunk_ids[s.row], index.span(s.row), None,
                       round(s.score, 4), 0.0, self.name)
            for s in evidence_rows if s.row != evidence
        ]
        return (first, *rest), features

    def signature_default(self, question: str, ranked: Sequence[ScoredSentence]) -> tuple[int, Span] | None:
        """For a question that asks a default and names a parameter and its callable
        ("What is the default value of nframe in tracemalloc.start()?"), the sentence among the
        best ranked that opens an API entry whose signature gives that parameter a default
        ("tracemalloc.start(nframe: int = 1)¶ Start tracing ..."), and the default's span."""
        if not _ASKS_DEFAULT.search(question):
            return None
        asked = set(re.findall(r"[A-Za-z_]\w*", question))
        index = self.sentences
        for s in ranked[: self.config.signature_rows]:
            if index.entry_end(s.row) is None:
                continue
            text = index.texts[s.row]
            m = _CALLABLE.match(text)
            if m is None or m.group(1).rsplit(".", 1)[-1] not in asked:
                continue
            # The parameters, to the bracket that closes the list, split at its own commas. A
            # square bracket after "=" opens a value ("x=[1, 2]"); any other marks optional
            # parameters ("port=None[, timeout]") and is passed over.
            depth, begin, pieces, opened = 0, m.end(), [], []
            for i in range(m.end(), len(text)):
                ch = text[i]
                if ch in "([{":
                    a_value = ch != "[" or text[begin:i].rstrip().endswith("=")
                    opened.append(a_value)
                    depth += a_value
                elif ch in ")]}":
                    if not opened:
                        pieces.append((begin, i))
                        break
                    depth -= opened.pop()
                elif ch == "," and depth == 0:
                    pieces.append((begin, i))
                    begin = i + 1
            else:
                continue
            for a, b in pieces:
                p = _PARAMETER.match(text, a, b)
                if p is not None and p.group(1) in asked:
                    value = p.group(2)  # less an optional group's bracket glued on ("None[", "'soft']")
                    while len(value) > 1 and value[-1] in "[]" and value.count("[") != value.count("]"):
                        value = value[:-1].rstrip()
                    start = index.span(s.row).start + p.start(2)
                    return s.row, Span(start, start + len(value))
        return None

    @staticmethod
    def reads(question: str) -> bool:
        """The model reads English: a question mostly in another script is not for it."""
        letters = _LETTER.findall(question)
        return bool(letters) and len(_LATIN.findall(question)) >= 0.5 * len(letters)

    def read_window(self, question: str, row: int, asked: str | None = None, bonus: float = 0.0,
                    only_row: bool = False) -> Reading:
        """The model's best span in a window around sentence `row`, spans in `row` itself chosen
        as if `bonus` higher (with `only_row`, only spans in `row`); a span of nothing but words
        of `asked` (the question as asked, default `question`), or holding two of its words in a
        row, is not an answer, nor one in a table's header row."""
        return self._read(self._prepare(question, row), row, question if asked is None else asked, bonus, only_row)

    def _prepare(self, question: str, row: int) -> tuple[Window, np.ndarray]:
        """The window around sentence `row` for `question`, and each context token's sentence."""
        with self._encode_lock:  # the Rust tokenizer is not documented as thread-safe
            return self._window(question_ids(self.tokenizer, question.translate(_AS_TRAINED)), row)

    def _read(self, prepared: tuple[Window, np.ndarray], row: int, asked: str, bonus: float,
              only_row: bool = False) -> Reading:
        window, token_rows = prepared
        logits = self._logits(window)
        terms = tokenize(asked)
        return self._best_span(row, window, token_rows, logits, set(terms), bonus, frozenset(pairwise(terms)), only_row,
                               clock_ok=not _HOW_LONG.search(asked))

    def _may_read_ahead(self) -> bool:
        """Whether a window may be read ahead: no other question is being read (under load every
        core is taken, and a window read ahead and not needed, or prepared and not read, costs
        the others: 5% of the answers a second at 32 clients on 2 cores when it read ahead always)."""
        return self.config.side_by_side and self._reading <= 1

    def _read_ahead(self, plan: tuple[float, int, tuple[Window, np.ndarray]], asked: str,
                    bonus: float) -> Future[Reading] | None:
        """A window read on the reader's spare thread, or None when that thread is busy."""
        if not self._spare.acquire(blocking=False):
            return None
        if self._pool is None:
            with self._count_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(1, thread_name_prefix="rag-reader")

        def read() -> Reading:
            try:
                return self._read(plan[2], plan[1], asked, bonus)
            finally:
                self._spare.release()

        return self._pool.submit(read)

    def read_cells(self, question: str, row: int, asked: str | None = None) -> Span | None:
        """The answer in table row `row` read cell by cell, each after its column's name ("Day:
        Saturday. Ride: Club Run. Start time: 8am. Distance: 80 km. ..."), prose the model reads
        as it was trained: the best span inside one cell that the question (`asked`, default
        `question`) does not already name, and not a time of day when it asks how long. None
        when the row's table has no header of two columns or more, or no such cell."""
        index = self.sentences
        found = index.table_of(row)
        if found is None:
            return None
        document = index.documents[found[0]]
        text = document.text
        head_start, head_end, _ = document.tables[found[1]]
        names = {column: name_of(text[a:b]) for a, b, column in document.cells_in(head_start, head_end)}
        span = index.span(row)
        cells = [c for c in document.cells_in(span.start, span.end) if c[2] in names]
        asked = question if asked is None else asked
        named = set(tokenize(asked))
        clock_ok = not _HOW_LONG.search(asked)  # as in `_best_span`
        if len(names) < 2 or not cells:
            return None
        parts: list[str] = []
        values: list[tuple[int, int, int, bool]] = []  # (context start, document start, length, may answer)
        asked_for: list[float] = []  # how many of its column name's terms the question names
        at = 0
        for a, b, column in cells:
            lead = f"{names[column]}: "
            value = text[a:b]
            terms = tokenize(value)
            may = bool(terms) and not set(terms) <= named and (clock_ok or not _CLOCK.fullmatch(value.strip()))
            values.append((at + len(lead), a, b - a, may))
            asked_for.append(float(len(set(tokenize(names[column])) & named)))
            parts.append(f"{lead}{value}. ")
            at += len(parts[-1])
        context = "".join(parts).translate(_AS_TRAINED)
        if not any(v[3] for v in values):
            return None
        with self._encode_lock:
            q_ids = question_ids(self.tokenizer, question.translate(_AS_TRAINED))
            enc = self.tokenizer.encode(context, add_special_tokens=False)
        room = min(self.max_len, self.config.window_tokens) - len(q_ids) - 3
        ids, offsets = list(enc.ids)[:room], list(enc.offsets)[:room]
        cell_of = np.full(len(ids), -1)
        for k, (a, b) in enumerate(offsets):
            for i, (start, _, length, may) in enumerate(values):
                if may and start <= a and b <= start + length:
                    cell_of[k] = i
        if (cell_of < 0).all():
            return None
        window = assemble(q_ids, ids, offsets)
        logits = self._logits(window)[window.first:window.first + len(ids)]
        scores = logits[:, 0][:, None] + logits[:, 1][None, :]
        first, last = np.indices(scores.shape)
        ok = (last >= first) & (last - first < self.config.max_answer_tokens) & (cell_of[:, None] == cell_of[None, :])
        scores = np.where(ok & (cell_of >= 0)[:, None], scores, -np.inf)
        # A column the question names is the one it asks for ("What is the average speed of ...").
        scores += _NAMED_COLUMN * np.array([asked_for[c] if c >= 0 else 0.0 for c in cell_of])[:, None]
        a, b = divmod(int(np.argmax(scores)), len(ids))
        start, doc_start, length, _ = values[int(cell_of[a])]
        if len(text[doc_start:doc_start + length].split()) <= _WHOLE_CELL:
            return Span(doc_start, doc_start + length)  # a short cell is one value ("28-32 km/h", not "28")
        return Span(doc_start + offsets[a][0] - start, doc_start + offsets[b][1] - start)

    def _logits(self, window: Window) -> np.ndarray:
        """The model's start and end logits for each token of `window`."""
        ids = np.array([window.ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids),
                 "token_type_ids": np.array([window.type_ids], dtype=np.int64)}
        logits: np.ndarray = self._session.run(None, feeds)[0][0]
        return logits

    def _window(self, q_ids: list[int], row: int) -> tuple[Window, np.ndarray]:
        """The model's input: sentence `row`, then the one before it, then after, while they
        fit (after a heading, only those after it: its section; after an entry's term, its
        description); offsets are document characters. Also each context token's sentence row."""
        index = self.sentences
        room = min(self.max_len, self.config.window_tokens) - len(q_ids) - 3
        doc = int(index.table.doc[row])
        pieces = {row: self._encode_row(row)}
        used = len(pieces[row][0])
        heading = index.in_heading(row)
        around: Sequence[int] = range(row + 1, row + 5) if heading else (row - 1, row + 1, row - 2, row + 2)
        entry_end = None if heading or not self.config.entry_forward else index.entry_end(row)
        if entry_end is not None:
            # An entry's term (a signature): only its description after it (`entry_forward`).
            ahead = [r for r in range(row + 1, row + 5)
                     if r < len(index) and int(index.table.doc[r]) == doc and int(index.table.start[r]) < entry_end]
            around = ahead if ahead else around
        for other in around:
            if not 0 <= other < len(index) or int(index.table.doc[other]) != doc:
                continue
            if heading and index.in_heading(other):
                break
            piece = self._encode_row(other)
            if used + len(piece[0]) > room:
                break
            pieces[other] = piece
            used += len(piece[0])
        ctx_ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        token_rows: list[int] = []
        for r in sorted(pieces):
            ctx_ids += pieces[r][0]
            offsets += pieces[r][1]
            token_rows += [r] * len(pieces[r][0])
        return assemble(q_ids, ctx_ids[:room], offsets[:room]), np.array(token_rows[:room], dtype=np.int64)

    def _encode_row(self, row: int) -> tuple[list[int], list[tuple[int, int]]]:
        index = self.sentences
        base = index.span(row).start
        enc = self.tokenizer.encode(index.texts[row].translate(_AS_TRAINED), add_special_tokens=False)
        return list(enc.ids), [(a + base, b + base) for a, b in enc.offsets]

    def _best_span(self, row: int, window: Window, token_rows: np.ndarray, logits: np.ndarray,
                   q_terms: set[str], bonus: float = 0.0, q_pairs: frozenset[tuple[str, str]] = frozenset(),
                   only_row: bool = False, clock_ok: bool = True) -> Reading:
        """The best span of one window that lies within one sentence (so the evidence is that
        sentence, a verbatim stretch of the source; with `only_row`, sentence `row`; never a
        table's header row), is not just the question's words, is not only a time of day when
        the question asks how long (`clock_ok` False) and does not restate a phrase of it: a
        span holding two of the question's terms in a row (`q_pairs`) names what the question
        already names ("Which two Xi'an companies debuted on the STAR Market?" was answered
        "Science and Technology Innovation Board or "STAR Market", China's Nasdaq-style tech
        index" from the sentence that names the two). On the
        tuning sets: squad-public EM 0.550 -> 0.553, F1 0.663 either way, false abstentions 4.4%
        -> 4.6%; xian-dev and pydocs-dev unchanged."""
        offsets, first = window.offsets, window.first
        rows = tuple(int(r) for r in np.unique(token_rows))
        n = len(offsets)
        null = float(logits[0, 0] + logits[0, 1])
        if n == 0:
            return Reading(row, rows, None, row, NO_SPAN)
        starts = logits[first:first + n, 0]
        ends = logits[first:first + n, 1]
        longest = self.config.max_answer_tokens
        scores = starts[:, None] + ends[None, :]
        i, j = np.indices(scores.shape)
        same_sentence = token_rows[:, None] == token_rows[None, :]
        # A table's header row names its columns, a heading its section: no answer is in them.
        allowed = [r for r in rows if not self.heuristic.names_only(r) and (r == row or not only_row)]
        if len(allowed) < len(rows):
            same_sentence &= np.isin(token_rows, allowed)[:, None]
        text = self.sentences.documents[int(self.sentences.table.doc[row])].text
        # A permalink mark glued to the end of a term or a heading ("c_bool¶") ends it: no span
        # holds or crosses one ("flag)¶ Set the flag(s)" was an answer; on the manual's tuning
        # sets 12 -> 8 of 121 answers hold one now, those that are the evidence sentence,
        # evidence@1 the same). One with a blank before it is prose ("see ¶ 12").
        if any(mark in text[offsets[0][0]:offsets[-1][1]] for mark in PERMALINKS):
            marks = np.array([b - a == 1 and text[a] in PERMALINKS and a > 0 and not text[a - 1].isspace()
                              for a, b in offsets])
            part = np.cumsum(marks)
            same_sentence &= (part[:, None] == part[None, :]) & ~marks[:, None] & ~marks[None, :]
        scores = np.where((j >= i) & (j - i < longest) & same_sentence, scores, -np.inf)
        chosen = scores + bonus * (token_rows == row)[:, None]
        order = np.argsort(chosen, axis=None)[::-1][: self.config.span_candidates]
        for flat in order:
            a, b = divmod(int(flat), n)
            if not np.isfinite(scores[a, b]):
                break
            span = Span(offsets[a][0], offsets[b][1])
            terms = tokenize(text[span.start:span.end])
            if terms and set(terms) <= q_terms:
                continue  # the question's own words are not its answer
            if q_pairs and any(pair in q_pairs for pair in pairwise(terms)):
                continue  # nor a phrase of it
            if not clock_ok and _CLOCK.fullmatch(text[span.start:span.end].strip()):
                continue  # "how long" asks a duration or a length, not a time of day
            return Reading(row, rows, span, int(token_rows[a]), float(scores[a, b]) - null)
        return Reading(row, rows, None, row, NO_SPAN)
