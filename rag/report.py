"""Eval reports: JSON, a Markdown table, a PNG chart, and the table printed to a terminal."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from typing import Any

from rag.evaluate import EvalResult

logger = logging.getLogger(__name__)

COLUMNS = (
    ("n", "questions"),
    ("hit@1", "hit@1"),
    ("hit@5", "hit@5"),
    ("MRR", "MRR@10"),
    ("ev@1", "evidence@1"),
    ("EM", "EM"),
    ("F1", "F1"),
    ("ans len", "answer_len_tokens"),
    ("false abst", "false_abstention"),
    ("abst P", "abstention_precision"),
    ("abst R", "abstention_recall"),
    ("abst F1", "abstention_f1"),
    ("cit valid", "citation_validity"),
    ("p50 ms", "latency_p50_ms"),
    ("p95 ms", "latency_p95_ms"),
    ("reader p50", "reader_p50_ms"),
)


def table_rows(result: EvalResult) -> list[tuple[str, dict[str, Any]]]:
    return [("all", result.overall), *result.by_type.items()]


def format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if value >= 10 else f"{value:.3f}"
    return str(value)


def markdown_table(result: EvalResult) -> str:
    header = "| type | " + " | ".join(label for label, _ in COLUMNS) + " |"
    rule = "|---" * (len(COLUMNS) + 1) + "|"
    lines = [header, rule]
    for kind, metrics in table_rows(result):
        lines.append(f"| {kind} | " + " | ".join(format_value(metrics.get(key)) for _, key in COLUMNS) + " |")
    return "\n".join(lines)


def text_table(result: EvalResult) -> str:
    labels = ["type", *(label for label, _ in COLUMNS)]
    rows = [[kind, *(format_value(m.get(key)) for _, key in COLUMNS)] for kind, m in table_rows(result)]
    widths = [max(len(r[i]) for r in [labels, *rows]) for i in range(len(labels))]
    out = ["  ".join(cell.rjust(w) for cell, w in zip(labels, widths, strict=True))]
    out += ["  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out)


SIDE_BY_SIDE = (
    ("n", "questions"), ("ev@1", "evidence@1"), ("EM", "EM"), ("F1", "F1"),
    ("false abst", "false_abstention"), ("abst R", "abstention_recall"), ("abst F1", "abstention_f1"),
    ("cit valid", "citation_validity"), ("p50 ms", "latency_p50_ms"), ("reader p50 ms", "reader_p50_ms"),
)


def side_by_side_rows(results: dict[str, EvalResult]) -> list[list[str]]:
    """One row per question type and reader, the readers of a type together."""
    first = next(iter(results.values()))
    kinds = [kind for kind, _ in table_rows(first)]
    rows = []
    for kind in kinds:
        for reader, result in results.items():
            metrics = dict(table_rows(result)).get(kind, {})
            rows.append([kind, reader, *(format_value(metrics.get(key)) for _, key in SIDE_BY_SIDE)])
    return rows


def side_by_side_markdown(results: dict[str, EvalResult]) -> str:
    labels = ["type", "reader", *(label for label, _ in SIDE_BY_SIDE)]
    lines = ["| " + " | ".join(labels) + " |", "|---" * len(labels) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in side_by_side_rows(results)]
    return "\n".join(lines)


def side_by_side_text(results: dict[str, EvalResult]) -> str:
    labels = ["type", "reader", *(label for label, _ in SIDE_BY_SIDE)]
    rows = side_by_side_rows(results)
    widths = [max(len(r[i]) for r in [labels, *rows]) for i in range(len(labels))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in [labels, *rows])


def write_side_by_side(results: dict[str, EvalResult], folder: Path, name: str, meta: dict[str, Any]) -> Path:
    """<name>-readers.md: every reader's scores, per question type, in one table."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-readers.md"
    described = "\n".join(f"- {k}: `{v}`" for k, v in meta.items())
    path.write_text(
        f"# Readers side by side: {name}\n\n{described}\n\n{side_by_side_markdown(results)}\n\n"
        "p50 ms: the whole answer (embedding, retrieval, reading); reader p50 ms: the reader's share. "
        f"Each reader's full report: {', '.join(f'{name}-{r}.md' for r in results)}.\n",
        encoding="utf-8",
    )
    return path


def write_reports(result: EvalResult, folder: Path, meta: dict[str, Any]) -> list[Path]:
    """Write <name>.json, <name>.md and, with the `charts` extra, <name>.png into `folder`;
    returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / result.name
    data = {"name": result.name, **meta, "overall": result.overall, "by_type": result.by_type}
    json_path = base.with_suffix(".json")
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path = base.with_suffix(".md")
    described = "\n".join(f"- {k}: `{v}`" for k, v in meta.items())
    md_path.write_text(
        f"# Eval report: {result.name}\n\n{described}\n\n{markdown_table(result)}\n\n"
        "Retrieval hit@k/MRR: a retrieved chunk holding a gold answer (SQuAD-normalised). evidence@1: "
        "citation 1's quote holds a gold answer. EM/F1: the short answer, SQuAD normalisation. "
        "Abstention P/R/F1: abstaining is the positive class, unanswerable questions the truth. "
        "Citation validity: share of quotes found verbatim (modulo white space) in a source.\n",
        encoding="utf-8",
    )
    png_path = base.with_suffix(".png")
    if importlib.util.find_spec("matplotlib") is None:
        logger.warning("no chart: matplotlib is not installed (pip install -e '.[charts]')")
        return [json_path, md_path]
    _chart(result, png_path)
    return [json_path, md_path, png_path]


def _chart(result: EvalResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["hit@1", "hit@5", "evidence@1", "F1", "EM", "abstention_f1", "citation_validity"]
    groups = table_rows(result)
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / max(len(groups), 1)
    for g, (kind, metrics) in enumerate(groups):
        values = [metrics.get(k) or 0.0 for k in keys]
        ax.bar([i + g * width for i in range(len(keys))], values, width, label=f"{kind} (n={metrics['questions']})")
    ax.set_xticks([i + width * (len(groups) - 1) / 2 for i in range(len(keys))], keys)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title(f"{result.name}")
    ax.legend(fontsize=8, ncols=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
