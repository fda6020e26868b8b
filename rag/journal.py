"""What a build has embedded so far, kept on disk part by part, so that a build stopped half way
(a crash, Ctrl-C, a lost Ray cluster) goes on from there instead of embedding everything again.

The journal lives in the index folder (`.embedded/<embedder>/part-NNNNN.npz`), keyed by a hash of
each text: the vectors depend on the embedder and the text only, never on chunk settings. A
build that writes its index clears it."""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

FOLDER = ".embedded"
PART = re.compile(r"part-(\d{5})\.npz")


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class EmbedJournal:
    """Vectors of the texts embedded by an unfinished build of `index_dir` with `embedder`."""

    def __init__(self, index_dir: Path, embedder: str, dim: int) -> None:
        self.root = index_dir / FOLDER
        self.folder = self.root / re.sub(r"[^A-Za-z0-9._-]+", "_", f"{embedder}-{dim}")
        self.dim = dim
        self._next = 0
        self._broken = False

    def load(self) -> dict[bytes, np.ndarray]:
        """Text key -> vector of every part written before; a damaged part is skipped."""
        found: dict[bytes, np.ndarray] = {}
        if not self.folder.is_dir():
            return found
        for path in sorted(self.folder.iterdir()):
            match = PART.fullmatch(path.name)
            if match is None:
                continue
            self._next = max(self._next, int(match.group(1)) + 1)
            try:
                with np.load(path) as part:
                    keys, vectors = part["keys"], part["vectors"]
                if vectors.shape != (len(keys), self.dim):
                    raise ValueError(f"vectors of shape {vectors.shape} for {len(keys)} keys")
            except (OSError, ValueError, KeyError) as exc:
                logger.warning("skipping %s of an unfinished build: %s", path, exc)
                continue
            found.update(zip((k.tobytes() for k in keys), vectors, strict=True))
        if found:
            logger.info("resuming: %d texts already embedded by an unfinished build", len(found))
        return found

    def append(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Keep one part (written whole or not at all). A folder that cannot be written to only
        costs the resumption: the build goes on, and says so once."""
        if self._broken:
            return
        keys = np.frombuffer(b"".join(text_key(t) for t in texts), dtype=np.uint8).reshape(len(texts), 16)
        path = self.folder / f"part-{self._next:05d}.npz"
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                np.savez(fh, keys=keys, vectors=np.asarray(vectors, dtype=np.float32))
            tmp.replace(path)
        except OSError as exc:
            logger.warning("cannot keep what this build embedded in %s (%s): a stopped build starts again",
                           self.folder, exc)
            self._broken = True
            return
        self._next += 1

    def clear(self) -> None:
        """Forget every unfinished build (of any embedder): the index now holds what they made."""
        shutil.rmtree(self.root, ignore_errors=True)
