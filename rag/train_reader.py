"""Train the learned reader (`make train-reader`): all-MiniLM-L6-v2's first layers fine-tuned
for extractive QA on `../shared/qa-train`, then exported to int8 ONNX in `rag/models/reader/`.

    python -m rag.train_reader --data ../shared/qa-train/train.jsonl.gz --work build/reader

Seeded and resumable: a checkpoint is written every `--checkpoint-every` steps to `WORK`, and a
run started again with the same settings goes on from the last one. Needs torch and
transformers (installed by `make install`); the model it writes is read without them.

Examples (one window of at most `max_len` tokens each; label = answer start/end tokens, or
position 0, the [CLS] token, for "no answer here"):
- every window of a context that holds the whole answer (at most two per example);
- the other windows of the same context, a few of them, as no-answer (same article, near miss);
- the context with the answer's sentence cut out, as no-answer (the hard negative: same topic,
  the words around it, but not the fact);
- the question against a window of another example's context (the easy negative);
- the question with one of its names or numbers swapped for one the context does not hold,
  against the window that answered it, as no-answer (SQuAD 2.0's "entity swap": the passage is
  on topic, the words almost match, but it is about someone or something else);
- small talk against random windows;
- the data's own unanswerable examples.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rag.reader_windows import load_tokenizer, question_ids, windows

SMALL_TALK = (
    "hi", "hello", "hey there", "good morning", "thanks", "thank you!", "thanks, bye!", "bye",
    "how are you?", "what's up?", "who are you?", "are you a robot?", "tell me a joke",
    "ok", "cool", "lol", "nice", "help", "can you help me?", "what can you do?", "test",
    "hello?", "good night", "i love you", "you are wrong", "asdf", "yes", "no", "why?", "hmm",
)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
NAME = re.compile(r"\b[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*){0,2}")
NUMBER = re.compile(r"\b\d[\d,]*\b")
QUESTION_OPENERS = frozenset(
    "what when who whom whose which where why how in on at by for from during after before "
    "the a an did does do is are was were has have had can could according name i".split())


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 13
    layers: int = 4
    """Encoder layers kept from all-MiniLM-L6-v2 (of 6): reading cost grows with each. Five were
    trained and measured on 2026-11-27 (MODEL_CARD.md, "Five layers, tried"): better spans on
    squad-public, worse evidence on the held-out user documents and manual; four stayed."""
    max_len: int = 128
    stride: int = 32
    batch: int = 32
    steps: int = 2000
    lr: float = 1.5e-4
    warmup: float = 0.06
    weight_decay: float = 0.01
    near_miss_windows: float = 0.35
    """Chance that a no-answer window of an example's own context is kept."""
    cut_sentence: float = 0.25
    """Chance that an example also gives its context with the answer's sentence cut out."""
    other_context: float = 0.08
    swap_entity: float = 0.6
    """Chance that an answerable example also gives its question with a name or number swapped."""
    flip_meaning: float = 0.0
    """Chance that an answerable example also gives its question negated or with a word turned to
    its opposite, against the window that answered it, as no-answer."""
    small_talk: int = 600
    covid_context_chars: int = 3000
    """COVID-QA contexts are whole papers: read this many characters around the answer."""
    init: str = ""
    """Weights to start from (the final.pt of an earlier run); "" starts from all-MiniLM-L6-v2's
    encoder and a new head."""


Example = tuple[list[int], list[int], int, int]
"""(ids, type_ids, start token, end token); start = end = 0 is "no answer"."""


def build_examples(rows: list[dict[str, Any]], tokenizer: Any, cfg: TrainConfig) -> list[Example]:
    """The training windows, shuffled with the seed."""
    rng = random.Random(cfg.seed)
    out: list[Example] = []

    def encode(question: str, context: str) -> list[Any]:
        enc = tokenizer.encode(context, add_special_tokens=False)
        return windows(question_ids(tokenizer, question), enc.ids, enc.offsets, cfg.max_len, cfg.stride)

    contexts = [r["context"] for r in rows]
    names, numbers = entity_pool(rows)
    for row in rows:
        context, question = row["context"], row["question"]
        answer = row["answers"][0] if row["answers"] else None
        if answer is not None and row["source"] == "COVID-QA" and len(context) > cfg.covid_context_chars:
            lo = max(0, answer["start"] - rng.randrange(cfg.covid_context_chars - len(answer["text"]) + 1))
            context = context[lo:lo + cfg.covid_context_chars]
            answer = {"text": answer["text"], "start": answer["start"] - lo}
        if answer is None:
            for w in encode(question, context[:2000])[:2]:
                out.append((w.ids, w.type_ids, 0, 0))
            continue
        a_start, a_end = answer["start"], answer["start"] + len(answer["text"])
        kept = 0
        for w in encode(question, context):
            offs = w.offsets
            if offs and offs[0][0] <= a_start and offs[-1][1] >= a_end:
                if kept < 2:
                    s = next(i for i, o in enumerate(offs) if o[1] > a_start)
                    e = max(i for i, o in enumerate(offs) if o[0] < a_end)
                    out.append((w.ids, w.type_ids, w.first + s, w.first + e))
                    kept += 1
            elif rng.random() < cfg.near_miss_windows:
                out.append((w.ids, w.type_ids, 0, 0))
        if rng.random() < cfg.cut_sentence:
            lo = max((m.end() for m in SENTENCE_END.finditer(context, 0, a_start)), default=0)
            nxt = SENTENCE_END.search(context, a_end)
            hi = nxt.start() if nxt else len(context)
            cut = context[:lo] + context[hi:].lstrip()
            if len(cut) > 80:
                ws = encode(question, cut)
                w = ws[min(range(len(ws)), key=lambda i: abs((ws[i].offsets or [(0, 0)])[0][0] - lo + 300))]
                out.append((w.ids, w.type_ids, 0, 0))
        if rng.random() < cfg.swap_entity:
            swapped = swap_entity(question, context, names, numbers, rng)
            if swapped is not None:
                w = next((w for w in encode(swapped, context)
                          if w.offsets and w.offsets[0][0] <= a_start and w.offsets[-1][1] >= a_end), None)
                if w is not None:
                    out.append((w.ids, w.type_ids, 0, 0))
        if cfg.flip_meaning and rng.random() < cfg.flip_meaning:
            flipped = flip_meaning(question, context, rng)
            if flipped is not None:
                w = next((w for w in encode(flipped, context)
                          if w.offsets and w.offsets[0][0] <= a_start and w.offsets[-1][1] >= a_end), None)
                if w is not None:
                    out.append((w.ids, w.type_ids, 0, 0))
        if rng.random() < cfg.other_context:
            other = rng.choice(contexts)
            if other is not row["context"]:
                w = rng.choice(encode(question, other[:3000]))
                out.append((w.ids, w.type_ids, 0, 0))
    for _ in range(cfg.small_talk):
        w = rng.choice(encode(rng.choice(SMALL_TALK), rng.choice(contexts)[:2000]))
        out.append((w.ids, w.type_ids, 0, 0))
    rng.shuffle(out)
    return out


def entity_pool(rows: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Names (runs of capitalised words) and numbers seen in the questions, to swap in."""
    names: set[str] = set()
    numbers: set[str] = set()
    for row in rows:
        names.update(m.group() for m in NAME.finditer(row["question"]) if m.start() > 0)
        numbers.update(NUMBER.findall(row["question"]))
    return sorted(names), sorted(numbers)


def swap_entity(question: str, context: str, names: list[str], numbers: list[str],
                rng: random.Random) -> str | None:
    """`question` with one name or number the context holds swapped for one it does not hold
    (of the same shape: as many words, as many digits), or None when it has none to swap."""
    spots: list[tuple[int, int, str]] = []
    for m in NAME.finditer(question):
        words = m.group().split()
        lo = m.start()
        while words and words[0].lower() in QUESTION_OPENERS:
            lo += len(words[0]) + 1
            words = words[1:]
        if words and " ".join(words) in context:
            spots.append((lo, lo + len(" ".join(words)), "name"))
    spots += [(m.start(), m.end(), "number") for m in NUMBER.finditer(question) if m.group() in context]
    if not spots:
        return None
    lo, hi, kind = rng.choice(spots)
    old = question[lo:hi]
    pool = names if kind == "name" else numbers
    lowered = context.lower()
    for _ in range(20):
        new = rng.choice(pool)
        if (new.lower() not in lowered and len(new.split()) == len(old.split())
                and (kind == "name" or len(new) == len(old))):
            return question[:lo] + new + question[hi:]
    return None


OPPOSITES = dict(pair for a, b in (
    ("first", "last"), ("before", "after"), ("largest", "smallest"), ("most", "least"),
    ("highest", "lowest"), ("increase", "decrease"), ("increased", "decreased"), ("earliest", "latest"),
    ("early", "late"), ("officially", "unofficially"), ("official", "unofficial"), ("north", "south"),
    ("east", "west"), ("northern", "southern"), ("eastern", "western"), ("won", "lost"), ("win", "lose"),
    ("more", "less"), ("oldest", "youngest"), ("older", "younger"), ("longest", "shortest"),
    ("major", "minor"), ("public", "private"), ("inside", "outside"), ("above", "below"),
    ("maximum", "minimum"), ("successful", "unsuccessful"), ("legal", "illegal"), ("positive", "negative"),
    ("open", "closed"), ("upper", "lower"), ("top", "bottom"), ("internal", "external"),
    ("ancient", "modern"), ("start", "end"), ("began", "ended"), ("rise", "fall"), ("gained", "lost"),
    ("best", "worst"), ("higher", "lower"), ("larger", "smaller"), ("longer", "shorter"),
    ("direct", "indirect"), ("possible", "impossible"), ("common", "rare"), ("male", "female"),
    ("accepted", "rejected"), ("supported", "opposed"), ("allowed", "banned"), ("domestic", "foreign"),
) for pair in ((a, b), (b, a)))
"""Words and their opposites, for SQuAD 2.0's "antonym" kind of unanswerable question."""
AUXILIARY = re.compile(r"\b(is|are|was|were|did|does|do|can|could|has|have|had|will|would|should|must)\b")
NEGATION = re.compile(r"\s+(not|never)\b|n't\b")


def flip_meaning(question: str, context: str, rng: random.Random) -> str | None:
    """`question` made to ask for what its context does not say (SQuAD 2.0's "negation" and
    "antonym" kinds): a word the context holds turned to its opposite, which the context does
    not hold; else its negation added or taken away. None when neither applies."""
    lowered = context.lower()
    words = [m for m in re.finditer(r"[A-Za-z]+", question)
             if m.group().lower() in OPPOSITES and re.search(rf"\b{m.group().lower()}\b", lowered)
             and not re.search(rf"\b{OPPOSITES[m.group().lower()]}\b", lowered)]
    if words and rng.random() < 0.6:
        m = rng.choice(words)
        new = OPPOSITES[m.group().lower()]
        new = new.capitalize() if m.group()[0].isupper() else new
        return question[:m.start()] + new + question[m.end():]
    if NEGATION.search(question):
        if re.search(r"\b(not|never|n't)\b", lowered):
            return None  # the context may say the negated thing: removing it is no safe change
        plain = re.sub(r"\b([Ww])on't\b", r"\1ill", re.sub(r"\b([Cc])an't\b", r"\1an", question))
        return " ".join(NEGATION.sub("", plain).split())
    aux = AUXILIARY.search(question, 1)
    if aux is None:
        return None
    return question[:aux.end()] + rng.choice((" not", " never")) + question[aux.end():]


def same_settings(written: str, cfg: TrainConfig) -> bool:
    """Whether settings written by a run (JSON) are `cfg`'s. A setting added since that run counts
    as its default, which is what the run did: a run of an older version is not taken for another."""
    try:
        before = json.loads(written)
    except ValueError:
        return False
    return isinstance(before, dict) and {**asdict(TrainConfig()), **before} == asdict(cfg)


def train(data: Path, work: Path, cfg: TrainConfig, checkpoint_every: int, device: str = "cpu") -> Path:
    """Train to `cfg.steps`, resuming from `work/checkpoint.pt`; returns the final weights' path.
    `device` "cuda" trains on a GPU (to try recipes quickly; what ships is trained on the CPU,
    whose sums differ in their last bits)."""
    import torch
    from transformers import AutoModel

    from rag.embed import bundled_model_path

    work.mkdir(parents=True, exist_ok=True)
    final = work / "final.pt"
    settings = json.dumps(asdict(cfg), sort_keys=True)
    written = work / "settings.json"
    if final.exists() and written.exists() and same_settings(written.read_text(encoding="utf-8"), cfg):
        print(f"{final} is already trained with these settings", flush=True)
        return final
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model_dir = bundled_model_path()
    tokenizer = load_tokenizer(Path(model_dir) / "tokenizer.json")
    began = time.time()
    with gzip.open(data, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    examples = build_examples(rows, tokenizer, cfg)
    positives = sum(1 for e in examples if e[2] > 0)
    print(f"{len(rows)} rows -> {len(examples)} windows ({positives} with the answer, "
          f"{len(examples) - positives} without) in {time.time() - began:.0f} s", flush=True)

    model = QAModel(AutoModel.from_pretrained(model_dir, config=encoder_config(cfg)))
    if cfg.init:
        model.load_state_dict(torch.load(cfg.init, map_location="cpu"))
        print(f"starting from {cfg.init}", flush=True)
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    warm = max(1, int(cfg.warmup * cfg.steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (cfg.steps - s) / max(1, cfg.steps - warm))))
    step = 0
    ckpt = work / "checkpoint.pt"
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False, map_location="cpu")
        if same_settings(state["settings"], cfg):
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            torch.set_rng_state(state["rng"])
            step = state["step"]
            print(f"resuming at step {step} of {cfg.steps}", flush=True)
        else:
            print(f"{ckpt} has other settings: starting afresh", flush=True)
    model.to(device)
    _optimizer_to(opt, device)
    model.train()
    loss_sum, since, t0 = 0.0, 0, time.time()
    while step < cfg.steps:
        first = (step * cfg.batch) % len(examples)
        batch = examples[first:first + cfg.batch]
        if len(batch) < cfg.batch:
            batch += examples[:cfg.batch - len(batch)]
        width = max(len(b[0]) for b in batch)
        ids = torch.tensor([b[0] + [0] * (width - len(b[0])) for b in batch])
        types = torch.tensor([b[1] + [0] * (width - len(b[1])) for b in batch])
        mask = (torch.arange(width)[None, :] < torch.tensor([len(b[0]) for b in batch])[:, None]).long().to(device)
        starts = torch.tensor([b[2] for b in batch], device=device)
        ends = torch.tensor([b[3] for b in batch], device=device)
        logits = model(ids.to(device), mask, types.to(device))
        fill = mask == 0
        loss = (torch.nn.functional.cross_entropy(logits[..., 0].masked_fill(fill, -1e4), starts)
                + torch.nn.functional.cross_entropy(logits[..., 1].masked_fill(fill, -1e4), ends)) / 2
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        step += 1
        loss_sum += loss.item()
        since += 1
        if step % 25 == 0 or step == cfg.steps:
            rate = (time.time() - t0) / since
            print(f"step {step}/{cfg.steps} loss {loss_sum / since:.3f} {rate:.2f} s/step, "
                  f"about {rate * (cfg.steps - step) / 60:.0f} min left", flush=True)
            loss_sum, since, t0 = 0.0, 0, time.time()
        if step % checkpoint_every == 0 and step < cfg.steps:
            tmp = ckpt.with_suffix(".tmp")
            torch.save({"settings": settings, "model": model.state_dict(), "opt": opt.state_dict(),
                        "sched": sched.state_dict(), "rng": torch.get_rng_state(), "step": step}, tmp)
            tmp.replace(ckpt)
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, final)
    (work / "settings.json").write_text(settings)
    print(f"trained {cfg.steps} steps in {(time.time() - began) / 60:.1f} min (this run)", flush=True)
    return final


def _optimizer_to(opt: Any, device: str) -> None:
    """Move a (resumed) optimizer's state to the model's device."""
    for state in opt.state.values():
        for key, value in state.items():
            if hasattr(value, "to") and key != "step":  # AdamW keeps its step count on the CPU
                state[key] = value.to(device)


def encoder_config(cfg: TrainConfig) -> Any:
    """all-MiniLM-L6-v2's configuration, cut to the first `cfg.layers` layers."""
    from transformers import AutoConfig

    from rag.embed import bundled_model_path

    config = AutoConfig.from_pretrained(bundled_model_path())
    config.num_hidden_layers = cfg.layers
    return config


def QAModel(encoder: Any) -> Any:
    """The encoder and a linear head giving start and end logits for every token."""
    import torch

    class _QAModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.head = torch.nn.Linear(encoder.config.hidden_size, 2)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            return self.head(hidden)

    return _QAModel()


def export(weights: Path, cfg: TrainConfig, target_dir: Path, work: Path) -> Path:
    """int8 ONNX of the trained weights, and the tokenizer beside it."""
    import shutil

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    from rag.embed import bundled_model_path

    model_dir = bundled_model_path()
    # Attention written out as plain matrix products: the default (scaled-dot-product) export
    # adds mask operations (IsNaN, Where, ...) that ONNX Runtime runs one by one; with the same
    # int8 weights a 96-token window takes 3.7 ms instead of 4.3 (one thread, VNNI).
    model = QAModel(AutoModel.from_config(encoder_config(cfg), attn_implementation="eager"))  # type: ignore[no-untyped-call]
    model.load_state_dict(torch.load(weights))
    model.eval()
    fp32 = work / "reader-fp32.onnx"
    x = torch.ones(1, 16, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(model, (x, x, torch.zeros_like(x)), str(fp32), dynamo=False, opset_version=17,
                      input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"],
                      dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "logits": axes})
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / "reader.onnx"
    quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8)
    shutil.copyfile(Path(model_dir) / "tokenizer.json", target_dir / "tokenizer.json")
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    print(f"wrote {target}: {target.stat().st_size / 1e6:.1f} MB, sha256 {digest}", flush=True)
    stamp_card(target_dir)
    return target


def stamp_card(model_dir: Path) -> None:
    """Write the files' sha256 into MODEL_CARD.md (a test holds the shipped files to them)."""
    card = model_dir / "MODEL_CARD.md"
    if not card.exists():
        print(f"no {card}: write one (tests/test_read_model.py reads the sha256 from it)", flush=True)
        return
    text = card.read_text(encoding="utf-8")
    for name in ("reader.onnx", "tokenizer.json"):
        digest = hashlib.sha256((model_dir / name).read_bytes()).hexdigest()
        text = re.sub(rf"(`{re.escape(name)}` sha256 )`[^`]*`", rf"\g<1>`{digest}`", text)
    card.write_text(text, encoding="utf-8")


FALSE_ABSTENTIONS = 0.05
"""The share of answerable calibration questions the chosen threshold may decline."""
SQUAD = Path("../shared/benchmarks/squad-public")
CALIBRATION_SETS = (
    ("squad-public", SQUAD / "questions.jsonl", SQUAD / "docs"),
    ("xian-dev", Path("eval/questions/xian-dev.jsonl"), Path("docs")),
)
"""Where confidence is calibrated: the sets the targets are tuned on, never xian-test or userdocs."""


def calibrate(model_dir: Path, work: Path, cfg: TrainConfig) -> dict[str, Any]:
    """Fit the reader's two confidences over the calibration sets, read through the whole
    pipeline over indexes of the default embedder, and write them into `reader.json`:
    - answer: P(the question is answered and the evidence holds a gold answer) from the model's
      margin and the rules' cosine and coverage of the sentence it read around;
    - span: P(the span is right, F1 >= 0.5 against a gold answer) from the margin."""
    from dataclasses import replace

    import numpy as np

    from rag.build import build_index
    from rag.config import Settings, default_embedder
    from rag.conversation import resolve_query
    from rag.embedders import make_embedder
    from rag.evaluate import read_questions
    from rag.metrics import best_f1, holds_answer
    from rag.read_heuristic import HeuristicReader, SentenceIndex
    from rag.read_model import ModelReader
    from rag.retrieve import HybridRetriever
    from rag.store import load_index
    from rag.types import Query

    meta_path = model_dir / "reader.json"
    meta: dict[str, Any] = {"max_len": cfg.max_len, "layers": cfg.layers, "calibration": {
        "span": {"weights": [0.0], "bias": 0.0}, "answer": {"weights": [0.0, 0.0, 0.0], "bias": 0.0}}}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    embedder = make_embedder(default_embedder())
    answer_x: list[list[float]] = []
    answer_y: list[float] = []
    answerable: list[bool] = []
    span_x: list[list[float]] = []
    span_y: list[float] = []
    for name, questions_path, docs in CALIBRATION_SETS:
        index = work / f"index-{name}"
        build_index(docs, index, embedder)
        stored = load_index(index)
        sentences = SentenceIndex(stored.documents, stored.chunks, stored.sentences, stored.sentence_vectors,
                                  stored.sentence_terms)
        # Every span trusted while calibrating: the span calibration judges each one.
        every_span = replace(Settings().model_reader, trust_span_from=0.0)
        reader = ModelReader(sentences, HeuristicReader(sentences), every_span, model_dir)
        retriever = HybridRetriever.over(stored)  # as `Assistant.load` builds it
        texts = {d.doc_id: d.text for d in stored.documents}
        for q in read_questions(questions_path):
            clean = " ".join(q.question.split())
            text = resolve_query(clean, list(q.history))
            query = Query(clean, text, embedder.embed([text])[0])
            extractions, features = reader.read_scored(query, retriever.retrieve(query))
            if features is None or not reader.reads(clean):
                continue
            first = extractions[0]
            golds = list(q.answers)
            evidence = texts[first.doc_id][first.evidence.start:first.evidence.end]
            answer_x.append(features.answer())
            answer_y.append(float(not q.unanswerable and holds_answer(evidence, golds)))
            answerable.append(not q.unanswerable)
            if first.answer is not None:
                span = texts[first.doc_id][first.answer.start:first.answer.end]
                span_x.append(features.span())
                span_y.append(float(not q.unanswerable and best_f1(span, golds) >= 0.5))
        print(f"calibration: read {name}", flush=True)
    fits = {}
    for key, xs, ys in (("answer", answer_x, answer_y), ("span", span_x, span_y)):
        weights, bias = _logistic_fit(np.array(xs), np.array(ys))
        fits[key] = {"weights": [round(w, 5) for w in weights], "bias": round(bias, 5), "questions": len(xs),
                     "positives": int(sum(ys))}
    meta["calibration"] = {**fits, "sets": [name for name, _, _ in CALIBRATION_SETS]}
    # The policy's threshold: decline under the confidence that at most 5% of the answerable
    # questions of the calibration sets fall under.
    w = np.array(fits["answer"]["weights"])
    confidence = 1 / (1 + np.exp(-(np.array(answer_x) @ w + fits["answer"]["bias"])))
    meta["abstain_below"] = round(float(np.quantile(confidence[np.array(answerable)], FALSE_ABSTENTIONS)), 4)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"calibration: {json.dumps(meta['calibration'])}", flush=True)
    return meta


def _logistic_fit(x: Any, y: Any, steps: int = 50) -> tuple[list[float], float]:
    """Newton's method for logistic regression (a little L2 keeps it finite): weights, bias."""
    import numpy as np

    design = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    w = np.zeros(design.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(design @ w)))
        grad = design.T @ (p - y) + 1e-3 * w
        hess = (design * (p * (1 - p))[:, None]).T @ design + 1e-3 * np.eye(len(w))
        w -= np.linalg.solve(hess, grad)
    return [float(v) for v in w[:-1]], float(w[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.train_reader", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/qa-train/train.jsonl.gz"))
    parser.add_argument("--work", type=Path, default=Path("build/reader"), help="checkpoints and the fp32 model")
    parser.add_argument("--out", type=Path, default=Path("rag/models/reader"), help="where reader.onnx goes")
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    parser.add_argument("--layers", type=int, default=TrainConfig.layers,
                        help="encoder layers kept of all-MiniLM-L6-v2's 6 (fewer read faster)")
    parser.add_argument("--max-len", type=int, default=TrainConfig.max_len, help="tokens of a training window")
    parser.add_argument("--flip-meaning", type=float, default=TrainConfig.flip_meaning,
                        help="chance an answerable example also gives a negated or opposite question as no-answer")
    parser.add_argument("--init", type=Path, help="go on training these weights (a final.pt of an earlier run)")
    parser.add_argument("--lr", type=float, default=TrainConfig.lr, help="peak learning rate")
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--no-export", action="store_true", help="train only (a first stage): no ONNX, no calibration")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                        help="where to train (cuda: a GPU, to try recipes; the shipped model is trained on the CPU)")
    args = parser.parse_args(argv)
    if not 1 <= args.layers <= 6 or not 32 <= args.max_len <= 512:
        print("error: --layers must be 1 to 6 and --max-len 32 to 512", file=sys.stderr)
        return 2
    if not args.data.exists():
        print(f"error: no training data at {args.data}", file=sys.stderr)
        return 2
    if args.init is not None and not args.init.is_file():
        print(f"error: no weights at {args.init}", file=sys.stderr)
        return 2
    cfg = TrainConfig(steps=args.steps, layers=args.layers, max_len=args.max_len, flip_meaning=args.flip_meaning,
                      lr=args.lr, init="" if args.init is None else str(args.init))
    weights = train(args.data, args.work, cfg, args.checkpoint_every, args.device)
    if args.no_export:
        return 0
    export(weights, cfg, args.out, args.work)
    calibrate(args.out, args.work, cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
