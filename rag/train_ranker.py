"""Train the sentence ranker (`make train-ranker`): all-MiniLM-L6-v2's first layers fine-tuned to
tell which sentence of a passage answers a question, then exported to int8 ONNX in
`rag/models/ranker/`.

    python -m rag.train_ranker --data ../shared/qa-train/train.jsonl.gz --work build/ranker

The model reads `[CLS] question [SEP] sentence [SEP]` and gives one score. It is trained
listwise: each example is a group of sentences, the one holding the answer and others of the same
context (same topic and words, not the fact: what the rules confuse it with) and of other
contexts, and the loss is the cross-entropy of the softmax over the group's scores. At query time
(`rag.rank_model`) it re-ranks the rules' best sentences before the reader reads around them.

Seeded and resumable like `rag.train_reader` (a checkpoint every `--checkpoint-every` steps in
WORK); needs torch and transformers, the model it writes is read without them.
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
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from rag.reader_windows import CLS, SEP, load_tokenizer, question_ids
from rag.sentence import split_sentences

MODEL_FILES = ("ranker.onnx", "tokenizer.json")


@dataclass(frozen=True)
class RankerConfig:
    seed: int = 13
    layers: int = 2
    """Encoder layers kept from all-MiniLM-L6-v2 (of 6): the ranker reads several sentences a
    question, so each layer costs more than the reader's."""
    max_len: int = 64
    """Question and sentence tokens; a longer sentence keeps its first tokens."""
    group: int = 8
    """Sentences a question is ranked among in training: the answer's and `group - 1` others."""
    other_contexts: int = 2
    """Of a group's other sentences, how many come from other contexts (the rest, as far as the
    context has them, from its own)."""
    batch: int = 16
    """Groups a step."""
    steps: int = 2000
    lr: float = 1e-4
    warmup: float = 0.06
    weight_decay: float = 0.01
    covid_context_chars: int = 3000
    """COVID-QA contexts are whole papers: sentences within this many characters of the answer."""


Group = list[tuple[list[int], list[int]]]
"""(ids, type_ids) of each sentence; the first holds the answer."""


def encode_pair(question: list[int], sentence: list[int], max_len: int) -> tuple[list[int], list[int]]:
    """`[CLS] question [SEP] sentence [SEP]`, the sentence cut to fit `max_len`; type ids 0 then 1."""
    head = [CLS, *question, SEP]
    body = sentence[: max(1, max_len - len(head) - 1)]
    return head + body + [SEP], [0] * len(head) + [1] * (len(body) + 1)


def sentences_of(context: str) -> list[tuple[int, int]]:
    return [(s.start, s.end) for s in split_sentences(context)]


def build_groups(rows: list[dict[str, Any]], tokenizer: Any, cfg: RankerConfig) -> list[Group]:
    """The training groups, shuffled with the seed: for each answerable example whose answer lies
    in one sentence, that sentence first and `cfg.group - 1` others."""
    rng = random.Random(cfg.seed)
    pool: list[str] = []  # sentences of every context, for the other-context negatives
    prepared = []
    for row in rows:
        if not row["answers"]:
            continue
        context = row["context"]
        answer = row["answers"][0]
        a_start, a_end = answer["start"], answer["start"] + len(answer["text"])
        if row["source"] == "COVID-QA" and len(context) > cfg.covid_context_chars:
            half = cfg.covid_context_chars // 2
            lo = max(0, a_start - half)
            context, a_start, a_end = context[lo:lo + cfg.covid_context_chars], a_start - lo, a_end - lo
        spans = sentences_of(context)
        texts = [context[s:e] for s, e in spans]
        pool.extend(t for t in texts if len(t) > 20)
        holding = [i for i, (s, e) in enumerate(spans) if s <= a_start and a_end <= e]
        if holding:
            prepared.append((row["question"], texts, holding[0]))
    groups: list[Group] = []
    for question, texts, answer_at in prepared:
        q = question_ids(tokenizer, question)
        own = [t for i, t in enumerate(texts) if i != answer_at and t != texts[answer_at]]
        rng.shuffle(own)
        others = own[: cfg.group - 1 - cfg.other_contexts]
        while len(others) < cfg.group - 1:
            others.append(rng.choice(pool))
        chosen = [texts[answer_at], *others]
        encoded = tokenizer.encode_batch(chosen, add_special_tokens=False)
        groups.append([encode_pair(q, e.ids, cfg.max_len) for e in encoded])
    rng.shuffle(groups)
    return groups


def same_settings(written: str, cfg: RankerConfig) -> bool:
    try:
        before = json.loads(written)
    except ValueError:
        return False
    return isinstance(before, dict) and {**asdict(RankerConfig()), **before} == asdict(cfg)


def RankModel(encoder: Any) -> Any:
    """The encoder and a linear head on the [CLS] token: one score a question and sentence."""
    import torch

    class _RankModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.head = torch.nn.Linear(encoder.config.hidden_size, 1)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            return self.head(hidden[:, 0]).squeeze(-1)

    return _RankModel()


def train(data: Path, work: Path, cfg: RankerConfig, checkpoint_every: int, device: str = "cpu") -> Path:
    """Train to `cfg.steps`, resuming from `work/checkpoint.pt`; returns the final weights' path."""
    import torch
    from transformers import AutoModel

    from rag.embed import bundled_model_path
    from rag.train_reader import _optimizer_to, encoder_config

    work.mkdir(parents=True, exist_ok=True)
    final = work / "final.pt"
    settings = json.dumps(asdict(cfg), sort_keys=True)
    written = work / "settings.json"
    if final.exists() and written.exists() and same_settings(written.read_text(encoding="utf-8"), cfg):
        print(f"{final} is already trained with these settings", flush=True)
        return final
    torch.manual_seed(cfg.seed)
    model_dir = bundled_model_path()
    tokenizer = load_tokenizer(Path(model_dir) / "tokenizer.json")
    began = time.time()
    with gzip.open(data, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    groups = build_groups(rows, tokenizer, cfg)
    print(f"{len(rows)} rows -> {len(groups)} groups of {cfg.group} sentences in {time.time() - began:.0f} s",
          flush=True)
    model = RankModel(AutoModel.from_pretrained(model_dir, config=encoder_config(cfg)))
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
    loss_sum, right, since, t0 = 0.0, 0, 0, time.time()
    while step < cfg.steps:
        first = (step * cfg.batch) % len(groups)
        batch = groups[first:first + cfg.batch]
        if len(batch) < cfg.batch:
            batch += groups[:cfg.batch - len(batch)]
        pairs = [p for g in batch for p in g]
        width = max(len(p[0]) for p in pairs)
        ids = torch.tensor([p[0] + [0] * (width - len(p[0])) for p in pairs], device=device)
        types = torch.tensor([p[1] + [0] * (width - len(p[1])) for p in pairs], device=device)
        mask = (torch.arange(width)[None, :] < torch.tensor([len(p[0]) for p in pairs])[:, None]).long().to(device)
        scores = model(ids, mask, types).view(len(batch), cfg.group)
        target = torch.zeros(len(batch), dtype=torch.long, device=device)
        loss = torch.nn.functional.cross_entropy(scores, target)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        step += 1
        loss_sum += loss.item()
        right += int((scores.argmax(dim=1) == 0).sum())
        since += 1
        if step % 25 == 0 or step == cfg.steps:
            rate = (time.time() - t0) / since
            print(f"step {step}/{cfg.steps} loss {loss_sum / since:.3f} first right {right / (since * cfg.batch):.3f} "
                  f"{rate:.2f} s/step, about {rate * (cfg.steps - step) / 60:.0f} min left", flush=True)
            loss_sum, right, since, t0 = 0.0, 0, 0, time.time()
        if step % checkpoint_every == 0 and step < cfg.steps:
            tmp = ckpt.with_suffix(".tmp")
            torch.save({"settings": settings, "model": model.state_dict(), "opt": opt.state_dict(),
                        "sched": sched.state_dict(), "rng": torch.get_rng_state(), "step": step}, tmp)
            tmp.replace(ckpt)
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, final)
    written.write_text(settings)
    print(f"trained {cfg.steps} steps in {(time.time() - began) / 60:.1f} min (this run)", flush=True)
    return final


def export(weights: Path, cfg: RankerConfig, target_dir: Path, work: Path) -> Path:
    """int8 ONNX of the trained weights, the tokenizer and `ranker.json` beside it."""
    import shutil

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    from rag.embed import bundled_model_path
    from rag.train_reader import encoder_config

    model = RankModel(AutoModel.from_config(encoder_config(cfg), attn_implementation="eager"))  # type: ignore[no-untyped-call]
    model.load_state_dict(torch.load(weights, map_location="cpu"))
    model.eval()
    fp32 = work / "ranker-fp32.onnx"
    x = torch.ones(1, 16, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(model, (x, x, torch.zeros_like(x)), str(fp32), dynamo=False, opset_version=17,
                      input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["score"],
                      dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                    "score": {0: "batch"}})
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / "ranker.onnx"
    quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8)
    shutil.copyfile(Path(bundled_model_path()) / "tokenizer.json", target_dir / "tokenizer.json")
    (target_dir / "ranker.json").write_text(json.dumps({"max_len": cfg.max_len, "layers": cfg.layers}, indent=2) + "\n")
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    print(f"wrote {target}: {target.stat().st_size / 1e6:.1f} MB, sha256 {digest}", flush=True)
    stamp_card(target_dir)
    return target


def stamp_card(model_dir: Path) -> None:
    """Write the files' sha256 into MODEL_CARD.md (a test holds the shipped files to them)."""
    card = model_dir / "MODEL_CARD.md"
    if not card.exists():
        print(f"no {card}: write one (tests/test_rank_model.py reads the sha256 from it)", flush=True)
        return
    text = card.read_text(encoding="utf-8")
    for name in MODEL_FILES:
        digest = hashlib.sha256((model_dir / name).read_bytes()).hexdigest()
        text = re.sub(rf"(`{re.escape(name)}` sha256 )`[^`]*`", rf"\g<1>`{digest}`", text)
    card.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.train_ranker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/qa-train/train.jsonl.gz"))
    parser.add_argument("--work", type=Path, default=Path("build/ranker"), help="checkpoints and the final weights")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "models" / "ranker")
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--device", default="cpu")
    for f in fields(RankerConfig):
        parser.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default)
    args = parser.parse_args(argv)
    cfg = RankerConfig(**{f.name: getattr(args, f.name) for f in fields(RankerConfig)})
    if not args.data.exists():
        print(f"no training data at {args.data} (../shared/qa-train beside the repository)", file=sys.stderr)
        return 2
    final = train(args.data, args.work, cfg, args.checkpoint_every, args.device)
    export(final, cfg, args.out, args.work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
