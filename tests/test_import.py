"""`import rag` stays light: no torch, no sentence-transformers, no FAISS until needed, no web."""

from __future__ import annotations

import subprocess
import sys


def test_import_rag_loads_no_heavy_module() -> None:
    code = (
        "import sys, rag, rag.cli\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', 'faiss', 'onnxruntime',\n"
        "                     'fastapi', 'gradio', 'uvicorn', 'matplotlib', 'ui') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == ""


def test_the_cli_finds_serve_through_its_entry_point_and_core_commands_skip_the_lookup() -> None:
    code = (
        "import sys; from rag.cli import _parser\n"
        "core = _parser(with_plugins=False)\n"
        "full = _parser()\n"
        "names = lambda p: sorted(next(a for a in p._actions if a.dest == 'command').choices)\n"
        "print(names(core), names(full), 'ui.command' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "['ask', 'chat', 'eval', 'ingest'] ['ask', 'chat', 'eval', 'ingest', 'serve'] True"
