"""The `rag serve` command, added to the `rag` CLI through the `rag.commands` entry point.

Importing this module is cheap: the web packages load only when `serve` runs, and their
absence is one clear error, not a traceback.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rag.cli import TqdmProgress, backend_from_env, command_settings, model_cache_from_env
from rag.config import DEFAULT_READER, READERS
from rag.errors import MissingExtraError, UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `serve` to the `rag` command's subcommands."""
    serve = sub.add_parser("serve", help="serve the chat page, the REST API and the widget")
    serve.add_argument("--index", type=Path, default=Path("index"), help="index folder (default: index/)")
    serve.add_argument("--docs", type=Path, help="build or update the index from this folder first")
    serve.add_argument("--watch", action="store_true",
                       help="re-index the --docs folder whenever a document is added, changed or removed "
                            "(the running server switches to the new index without dropping a question)")
    serve.add_argument("--base-url", default="", metavar="URL",
                       help="where the HTML documents are published (e.g. https://docs.example.org/): "
                            "their citations link to the page there, at the quote (default: the server's "
                            "own source view)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=7860, help="port to listen on (default: 7860)")
    serve.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                       help="a Host name the server answers besides its own address and localhost "
                            "(repeat; e.g. your public name behind a proxy)")
    serve.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                       help="an origin allowed to call the API (repeat; default: none but the page itself)")
    serve.add_argument("--rate", type=float, default=60.0, help="questions a minute per client (default 60)")
    serve.add_argument("--burst", type=int, default=20, help="questions at once per client (default 20)")
    serve.add_argument("--trust-proxy", action="append", default=[], metavar="IP",
                       help="a reverse proxy whose X-Forwarded-For names the client (repeat)")
    serve.add_argument("--reader", choices=READERS, default=DEFAULT_READER,
                       help=f"who reads the passages: the shipped QA model or the hand-written rules "
                            f"(default: {DEFAULT_READER})")
    serve.add_argument("--feedback", type=Path, default=Path("feedback.jsonl"),
                       help="where like/dislike feedback is appended (default: feedback.jsonl)")
    serve.add_argument("--replicas", type=int, default=1, metavar="N",
                       help="serve from N processes over the same index (default 1); the rate limits are shared")
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from ui.config import ServerConfig
        from ui.security import default_hosts
        from ui.server import load_assistant, serve
    except ImportError as exc:
        raise MissingExtraError(f"the web server needs its extra packages: pip install -e '.[web]' ({exc})") from exc

    if args.watch and args.docs is None:
        raise UsageError("--watch needs --docs: the folder to watch")
    origins = os.environ.get("RAG_CORS_ORIGINS", "")
    allowed = tuple(args.cors_origin) + tuple(o.strip() for o in origins.split(",") if o.strip())
    hosts = default_hosts(args.host, args.port) + tuple(h.lower() for h in args.allowed_host)
    config = ServerConfig(cors_origins=allowed, rate_per_minute=args.rate, rate_burst=args.burst,
                          feedback_path=args.feedback, trusted_proxies=tuple(args.trust_proxy),
                          allowed_hosts=hosts)
    if args.docs is not None:
        print(f"checking the index in {args.index}/ against {args.docs}/ (a first build embeds every document)",
              flush=True)
    if args.base_url and not args.base_url.startswith(("http://", "https://")):
        raise UsageError(f"--base-url must start with http:// or https://, not {args.base_url!r}")
    if args.replicas < 1:
        raise UsageError(f"--replicas must be >= 1, got {args.replicas}")
    backend, model_cache = backend_from_env(), model_cache_from_env()
    if args.replicas > 1:
        from ui.server import prepare_index, serve_replicas

        embedder = prepare_index(args.index, args.docs, backend, model_cache, TqdmProgress(), command_settings())
        return serve_replicas(args.index, args.replicas, args.host, args.port, config, backend, model_cache,
                              args.reader, args.base_url, (args.docs, embedder) if args.watch else None)
    assistant = load_assistant(args.index, args.docs, backend, model_cache, TqdmProgress(),
                               args.reader, args.base_url, command_settings())
    serve(assistant, args.host, args.port, config, watch_docs=args.docs if args.watch else None)
    return 0
