"""The `rag` command: ingest, ask (one question, interactive, or a batch file), chat, eval.

Other packages add commands through the `rag.commands` entry-point group (each entry is a
function that registers a subcommand): the web server (`ui`) adds `serve` that way, so the
library never imports the UI. The environment is read here, not in the library.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from rag.config import DEFAULT_READER, READERS, IngestConfig, Settings, default_embedder
from rag.embedders import EMBEDDERS
from rag.errors import IngestError, RagError, UsageError
from rag.types import Answer, Question, source_label

if TYPE_CHECKING:
    from rag.embed import Embedder
    from rag.pipeline import Assistant

logger = logging.getLogger("rag")


class TqdmProgress:
    """A tqdm bar on stderr, shown only when stderr is a terminal or RAG_PROGRESS=1."""

    def __init__(self) -> None:
        self._bar = None

    def start(self, total: int, description: str) -> None:
        from tqdm import tqdm

        enabled = sys.stderr.isatty() or os.environ.get("RAG_PROGRESS") == "1"
        self._bar = tqdm(total=total, desc=description, unit="text", disable=not enabled, file=sys.stderr)

    def advance(self, amount: int) -> None:
        if self._bar is not None:
            self._bar.update(amount)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


PLUGIN_GROUP = "rag.commands"
CORE_COMMANDS = ("ingest", "ask", "eval", "chat")


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_list if not a.startswith("-")), None)
    # Looking up plugins costs a tenth of a second: only when the command is not ours.
    parser = _parser(with_plugins=command not in CORE_COMMANDS)
    args = parser.parse_args(args_list)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except RagError as exc:
        print(printable(f"rag: error: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rag: interrupted", file=sys.stderr)
        return 130


def _parser(with_plugins: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Cited answers from your documents.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="build or update the index from a folder of documents")
    ingest.add_argument("--docs", type=Path, default=Path("docs"), help="documents folder (default: docs/)")
    ingest.add_argument("--index", type=Path, default=Path("index"), help="index folder (default: index/)")
    ingest.add_argument("--embedder", choices=sorted(EMBEDDERS),
                        help="embedding model (default: the index's own; for a new one all-MiniLM-L6-v2's int8 "
                             "copy, '...:int8' (MiniLM itself on RAG_BACKEND=torch); 'hash' a fast test stand-in)")
    ingest.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                        help="parse and embed on a Ray cluster (its address, e.g. ray://head:10001 or auto); "
                             "without ADDRESS, a Ray of this machine's cores")
    ingest.add_argument("--ray-workers", type=int, metavar="N",
                        help="embedding workers on the Ray cluster (default: one a CPU)")
    ingest.set_defaults(func=cmd_ingest)

    ask = sub.add_parser("ask", help="answer a question (or a batch file, or interactively)")
    ask.add_argument("question", nargs="?", help="the question; omit it for an interactive session")
    ask.add_argument("--index", type=Path, default=Path("index"), help="index folder (default: index/)")
    ask.add_argument("--json", action="store_true", help="print the answer JSON")
    ask.add_argument("--batch", type=Path, help="a JSONL file of questions; prints one answer a line")
    ask.add_argument("--reader", choices=READERS, default=DEFAULT_READER,
                     help="who reads the passages: the shipped QA model or the hand-written rules "
                          f"(default: {DEFAULT_READER})")
    ask.set_defaults(func=cmd_ask)

    ev = sub.add_parser("eval", help="score the assistant on a question file; write reports")
    ev.add_argument("--questions", type=Path, default=Path("eval/questions/xian-test.jsonl"),
                    help="questions (JSONL, the eval schema; default: eval/questions/xian-test.jsonl)")
    ev.add_argument("--docs", type=Path, default=Path("docs"), help="documents folder (default: docs/)")
    ev.add_argument("--index", type=Path,
                    help="index folder (default: eval/.cache/<docs folder>-<path hash>-<embedder>)")
    ev.add_argument("--name", help="report name (default: the questions file's name)")
    ev.add_argument("--reports", type=Path, default=Path("eval/.cache/reports"),
                    help="report folder (default: eval/.cache/reports; `make eval` writes eval/reports)")
    ev.add_argument("--embedder", choices=sorted(EMBEDDERS),
                    help="embedding model (default: the index's own; all-MiniLM-L6-v2's int8 copy for a new one)")
    ev.add_argument("--answers", type=Path,
                    help="score this `rag ask --batch --json` output instead of asking again")
    ev.add_argument("--save-answers", type=Path, help="also write the answers (JSONL) here")
    ev.add_argument("--reader", choices=[*sorted(READERS), "both"], default="both",
                    help="which reader answers (default: both, side by side)")
    ev.set_defaults(func=cmd_eval)

    chat = sub.add_parser("chat", help="build the index if needed, then ask questions interactively")
    chat.add_argument("--docs", type=Path, default=Path("docs"))
    chat.add_argument("--index", type=Path, default=Path("index"))
    chat.add_argument("--reader", choices=READERS, default=DEFAULT_READER)
    chat.set_defaults(func=cmd_chat)
    if with_plugins:
        _add_plugins(sub)
    return parser


def _add_plugins(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Let installed packages add their commands (the `rag.commands` entry points)."""
    from importlib.metadata import entry_points

    for entry in entry_points(group=PLUGIN_GROUP):
        try:
            entry.load()(sub)
        except (ImportError, AttributeError) as exc:
            logger.warning("command %s could not be loaded: %s", entry.name, exc)


def backend_from_env() -> str | None:
    """RAG_BACKEND: how MiniLM runs, "onnx" (default) or "torch"."""
    return os.environ.get("RAG_BACKEND") or None


def model_cache_from_env() -> Path | None:
    """RAG_MODEL_CACHE: where the exported ONNX model is kept (default ~/.cache/rag)."""
    value = os.environ.get("RAG_MODEL_CACHE")
    return Path(value) if value else None


def command_settings() -> Settings:
    """The settings of a build the `rag` command starts: files parsed by a process a core (the
    command's entry point is safe to import again in a spawned process)."""
    return Settings(ingest=IngestConfig(parse_workers=os.cpu_count() or 1))


def _embedder(name: str) -> Embedder:
    """The embedder by name, on the backend and model cache the environment asks for."""
    from rag.embedders import make_embedder

    return make_embedder(name, backend_from_env(), model_cache_from_env())


def cmd_ingest(args: argparse.Namespace) -> int:
    from rag.build import build_index, index_embedder
    from rag.formats import describe_suffixes

    if args.ray_workers is not None and args.ray is None:
        raise UsageError("--ray-workers goes with --ray")
    runner = None
    if args.ray is not None:
        from rag.ray_ingest import RayRunner

        runner = RayRunner(args.ray, args.ray_workers, backend_from_env(), model_cache_from_env())
    try:
        name = args.embedder or index_embedder(args.index, backend_from_env())
        report = build_index(args.docs, args.index, _embedder(name), command_settings(),
                             progress=TqdmProgress(), runner=runner)
    finally:
        if runner is not None:
            runner.close()
    print_errors(report.errors, args.docs)
    for path in report.skipped:
        why = ("a link out of the documents folder, to nothing, or in a loop" if path.is_symlink()
               else f"not a {describe_suffixes()} file")
        print(printable(f"rag: skipped {path}: {why}"), file=sys.stderr)
    if report.changed:
        print(
            f"indexed {_count(report.n_documents, 'document')} ({report.n_chunks} chunks, {report.n_sentences} "
            f"sentences) into {report.index_dir} in {report.seconds:.1f}s; embedded "
            f"{len(report.embedded_documents)}, reused {len(report.reused_documents)}, "
            f"removed {len(report.removed_documents)}"
        )
    else:
        print(f"the index in {report.index_dir}/ is up to date ({_count(report.n_documents, 'document')})")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.pipeline import Assistant

    if args.batch is not None and args.question is not None:
        raise UsageError("give either a question or --batch FILE, not both")
    from rag.evaluate import read_questions
    from rag.store import read_manifest

    questions = read_questions(args.batch) if args.batch is not None else None
    assistant = Assistant.load(args.index, _embedder(read_manifest(args.index).embedder), reader=args.reader)
    if questions is not None:
        return _ask_batch(assistant, questions, args.json, sys.stdout)
    if args.question is None:
        return _interactive(assistant)
    answer = assistant.ask(args.question)
    print(json.dumps(answer.to_dict(), ensure_ascii=False) if args.json else format_answer(answer))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rag.build import build_index, index_embedder
    from rag.evaluate import evaluate, read_questions, read_sources, score
    from rag.metrics import Scored
    from rag.pipeline import Assistant
    from rag.report import side_by_side_text, text_table, write_reports, write_side_by_side

    questions = read_questions(args.questions)
    name = args.name or args.questions.stem
    folder = args.docs.resolve()
    digest = hashlib.sha1(str(folder).encode()).hexdigest()[:8]
    backend = backend_from_env()
    slug = (args.embedder or default_embedder(backend)).rsplit("/", 1)[-1].replace(":", "-")
    index = args.index or Path("eval/.cache") / f"{folder.name}-{digest}-{slug}"
    embedder_name = args.embedder or index_embedder(index, backend)
    embedder = _embedder(embedder_name)
    report = build_index(args.docs, index, embedder, command_settings(), progress=TqdmProgress())
    print_errors(report.errors, args.docs)
    readers = [DEFAULT_READER, *(r for r in READERS if r != DEFAULT_READER)] if args.reader == "both" else [args.reader]
    if args.answers is not None and len(readers) > 1:
        raise UsageError("--answers scores one set of answers: name its --reader")
    if args.save_answers is not None and len(readers) > 1:
        raise UsageError("--save-answers writes one reader's answers: name its --reader")
    if args.save_answers is not None:  # before the questions are asked, not after
        try:
            args.save_answers.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot write answers to {args.save_answers} ({exc.strerror or exc})") from exc
    meta = {
        "questions": str(args.questions), "docs": str(args.docs), "embedder": embedder_name,
        "documents": report.n_documents, "chunks": report.n_chunks, "sentences": report.n_sentences,
        "command": "rag " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else "rag eval",
    }
    answers = None
    if args.answers is not None:
        answers = [json.loads(line) for line in args.answers.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(answers) != len(questions):
            raise UsageError(f"{args.answers} has {len(answers)} answers for {len(questions)} questions")
    results = {}
    sources: list[str] | None = None
    for reader in readers:
        assistant = Assistant.load(index, embedder, reader=reader)
        if sources is None:  # the same documents for every reader
            sources = read_sources(args.docs, assistant)
        if answers is not None:
            result = score([Scored(q, a) for q, a in zip(questions, answers, strict=True)], sources, name)
        else:
            bar = TqdmProgress()
            bar.start(len(questions), f"asking ({reader} reader)")
            try:
                assistant.warm_up()
                result = evaluate(assistant, questions, sources, name, on_answer=partial(bar.advance, 1))
            finally:
                bar.close()
        if args.save_answers is not None:
            args.save_answers.write_text(
                "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in result.answers), encoding="utf-8"
            )
        results[reader] = replace(result, name=f"{name}-{reader}")
        paths = write_reports(results[reader], args.reports, {**meta, "reader": reader})
        print(f"{reader} reader:\n{text_table(results[reader])}")
        print("reports: " + ", ".join(str(p) for p in paths))
    if len(results) > 1:
        print("side by side:\n" + side_by_side_text(results))
        print(f"report: {write_side_by_side(results, args.reports, name, meta)}")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from rag.build import ensure_index
    from rag.pipeline import Assistant

    embedder, report = ensure_index(args.index, args.docs, backend_from_env(), TqdmProgress(), model_cache_from_env(),
                                    command_settings())
    print_errors(report.errors if report else (), args.docs)
    return _interactive(Assistant.load(args.index, embedder, reader=args.reader))


def _ask_batch(assistant: Assistant, questions: list[Question], as_json: bool, out: TextIO) -> int:
    from rag.errors import InvalidQueryError

    failures = 0
    for q in questions:
        try:
            answer = assistant.ask(q.question, history=q.history)
        except InvalidQueryError as exc:
            failures += 1
            print(f"rag: question {q.id}: {exc}", file=sys.stderr)
            answer = Answer(q.question, "", True, 0.0, ())
        line = json.dumps({"id": q.id, **answer.to_dict()}, ensure_ascii=False) if as_json else format_answer(answer)
        out.write(line + "\n")
    return 1 if failures else 0


def _interactive(assistant: Assistant) -> int:
    from rag.errors import InvalidQueryError

    print("Ask a question about the documents (empty line or Ctrl-D to quit).")
    history: list[str] = []
    keep = assistant.limits.max_history_turns
    while True:
        try:
            question = input("? ")
        except EOFError:
            print()
            return 0
        if not sys.stdin.isatty():
            print()  # piped input is not echoed: end the prompt's line
        if not question.strip():
            return 0
        try:
            answer = assistant.ask(question, history=history[-keep:] if keep else [])
        except InvalidQueryError as exc:
            print(f"rag: {exc}")
            continue
        history.append(question)
        print(format_answer(answer) + "\n")


def format_answer(answer: Answer) -> str:
    """Human-readable answer with numbered sources."""
    lines = []
    if answer.abstained:
        lines.append("Not found in the documents. The closest passages:")
    else:
        lines.append(f"{printable(answer.answer)} [1]")
    for c in answer.citations:
        where = source_label(c.title, c.section)
        lines.append(printable(f"  [{c.n}] {where} ({c.doc_id}, chars {c.start}-{c.end}): {c.quote}"))
    lines.append(f"  (confidence {answer.confidence:.2f}, {answer.latency_ms:.0f} ms)")
    return "\n".join(lines)


def print_errors(errors: Sequence[IngestError], docs: Path) -> None:
    """The files left out, on stderr (pages of links in one line; `rag -v` names each)."""
    from rag.ingest import skipped_lines

    for line in skipped_lines(errors, docs):
        print(printable(f"rag: skipped {line}"), file=sys.stderr)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def printable(text: str) -> str:
    """Text safe for a terminal: control characters (escape sequences in a file name or a
    document) shown as \\xNN, never sent to the terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


if __name__ == "__main__":
    sys.exit(main())
