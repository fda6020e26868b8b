"""What a benchmark ran on, for its report: the figures of one CPU are not those of another
(the reader's int8 windows run about twice as fast where the CPU has AVX-512 VNNI)."""

from __future__ import annotations

import os
from pathlib import Path

FEATURES = ("avx512_vnni", "amx_int8", "avx_vnni", "avx512f", "avx2")
"""The instruction sets that move ONNX Runtime's and FAISS's speed here, best first."""


def describe(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """"2 cores, x86_64, Intel(R) Xeon(R) Processor, avx512_vnni amx_int8 ...": the cores, the
    architecture, the CPU's model name and which of `FEATURES` it has ("" where unknown)."""
    model, flags = "", set()
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    parts = [f"{os.cpu_count()} cores", os.uname().machine, model, " ".join(f for f in FEATURES if f in flags)]
    return ", ".join(p for p in parts if p)
