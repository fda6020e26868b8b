# The two commands: `make run` and `make test`. Both create .venv and install on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test test-fast lint install clean-index eval eval-docs bench bench-serve bench-scale load fuzz attack train-reader

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev,web,charts]'
	touch $(STAMP)

## Build the index from docs/ if it is missing or stale, then serve the chat page on :7860.
run: $(STAMP)
	$(BIN)/rag serve --docs docs --index index --watch

## The whole test suite, real-model tests included.
test: $(STAMP)
	$(BIN)/python -m pytest

## Only the fast tests (hashing embedder).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser"

SQUAD := ../shared/benchmarks/squad-public
## Score the held-out sets (xian-test, userdocs) and the tuning sets (xian-dev, squad-public,
## userdocs-dev, userdocs-dev2); reports land in eval/reports/.
eval: $(STAMP)
	$(BIN)/rag eval --questions eval/questions/xian-test.jsonl --docs docs --name xian-test --reports eval/reports
	$(BIN)/rag eval --questions eval/questions/xian-dev.jsonl --docs docs --name xian-dev --reports eval/reports
	$(BIN)/rag eval --questions $(SQUAD)/questions.jsonl --docs $(SQUAD)/docs --name squad-public --reports eval/reports
	$(BIN)/rag eval --questions eval/userdocs/questions.jsonl --docs eval/userdocs/docs --name userdocs --reports eval/reports
	$(BIN)/rag eval --questions eval/userdocs/dev/questions.jsonl --docs eval/userdocs/dev/docs --name userdocs-dev --reports eval/reports
	$(BIN)/rag eval --questions eval/userdocs/dev2/questions.jsonl --docs eval/userdocs/dev2/docs --name userdocs-dev2 --reports eval/reports

## The whole Python 3.11 manual (Debian's python3.11-doc): ingest, re-ingest after one changed
## page, eval/pydocs scored with both readers, a real server's RSS and latency; reports in
## eval/reports/pydocs-*. About 5 minutes on 2 cores of an AVX-512 Xeon (4 min at 09:57 UTC 2026-11-27), 25 on an AVX2 one.
eval-docs: $(STAMP)
	test -f /usr/share/doc/python3.11/html/index.html || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3.11-doc)
	$(BIN)/python eval/docs_bench.py

## Retrain the shipped reader (rag/models/reader/) from ../shared/qa-train: seeded, resumable
## (checkpoints in build/reader/), about 90 minutes on 2 cores; then export and calibrate.
train-reader: $(STAMP)
	$(BIN)/python -m rag.train_reader --data ../shared/qa-train/train.jsonl.gz --work build/reader --out rag/models/reader

## Performance report: eval/reports/bench.{md,json,png} (about 25 minutes on 2 cores).
bench: $(STAMP)
	$(BIN)/python eval/bench.py

## The whole pipeline at 10k, 100k and 1M chunks: the Python manual's pages replicated with
## perturbation, built by `rag ingest` and served by `rag serve`; eval/reports/bench-scale.{md,json}.
## Starts from the manual's index (make eval-docs's; built first if missing). A size that would not
## fit in this machine's memory is left out and says so. About 20 minutes on 2 cores of an AVX-512
## Xeon, 40 on an AVX2 one (the 1M build most of it), 17 GB of disk while it runs.
bench-scale: $(STAMP)
	test -f /usr/share/doc/python3.11/html/index.html || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3.11-doc)
	$(BIN)/python eval/bench_scale.py

## Serving replicas compared: rag serve --replicas 1/2/4 against Ray Serve, 32 clients (eval/scale.md).
bench-serve: $(STAMP)
	$(BIN)/python -m pip install --quiet 'ray[serve]>=2.50,<3'
	$(BIN)/python eval/ray_serve_bench.py

## 10,000 requests from 32 clients against rag serve on loopback; prints its figures.
load: $(STAMP)
	$(BIN)/python eval/load.py

## The property tests at full size: 1,000 examples each, the API and the chat page's endpoint included.
fuzz: $(STAMP)
	RAG_FUZZ_EXAMPLES=1000 $(BIN)/python -m pytest tests/test_fuzz.py --hypothesis-show-statistics -q

## Issue 10's attack against a real rag serve on loopback; prints what was tried and what held.
attack: $(STAMP)
	$(BIN)/python eval/attack.py

lint: $(STAMP)
	$(BIN)/ruff check rag ui eval tests
	$(BIN)/mypy rag ui

clean-index:
	rm -rf index/gen-* index/.tmp-* index/CURRENT index/.lock
