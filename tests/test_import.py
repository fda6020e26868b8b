"""`import rag` stays light: no torch, no sentence-transformers, no FAISS until needed."""

from __future__ import annotations

import subprocess
import sys


def test_import_rag_loads_no_heavy_module() -> None:
    code = (
        "import sys, rag\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', 'faiss') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == ""
