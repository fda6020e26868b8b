"""What a deployment of the server sets: who may call, how often, how much, where feedback goes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What a public deployment sets: who may call, how often, how much, where feedback goes."""

    cors_origins: tuple[str, ...] = ()
    rate_per_minute: float = 60.0
    rate_burst: int = 20
    max_body_bytes: int = 16_384
    max_body_seconds: float = 10.0
    """A request body slower than this (a byte at a time) is refused with 408."""
    feedback_path: Path = Path("feedback.jsonl")
    title: str = "Ask the documents"
    examples: tuple[str, ...] = (
        "When was the hard and core technology concept first proposed?",
        "Which two Xi’an companies debuted on the STAR Market?",
        "How much did Xi’an’s GDP grow in the first half of this year?",
    )
    chat_page: bool = True
    trusted_proxies: tuple[str, ...] = ()
    """Peers (reverse proxies) whose X-Forwarded-For names the real client for rate limiting."""
    allowed_hosts: tuple[str, ...] | None = None
    """Host headers the server answers (against DNS rebinding); None answers any. `rag serve`
    sets its own names (see `ui.security.default_hosts`) plus `--allowed-host`."""
