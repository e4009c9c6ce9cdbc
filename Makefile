# Switchyard. The two commands a newcomer needs: `make up` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# One shared build directory outside the checkout, so clean clones (CI) reuse compiled dependencies.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/switchyard-target
export CARGO_TERM_COLOR ?= never
LOCAL_ENV := source .local/env

.PHONY: help up down deps test fmt-check clippy test-rust test-infra test-js fuzz bench

help:
	@echo "make up     - start moto, Postgres, Redis, provision the topology and run every service and worker"
	@echo "make down   - stop what make up started"
	@echo "make test   - fmt, clippy and the full test suite against real moto, Postgres and Redis"
	@echo "make fuzz   - schemathesis against identity, tasks and mail (part of make test; FUZZ_SEED=n reproduces)"
	@echo "make bench  - benchmarks (table on stdout, JSON under target/bench/; BENCH_ARGS=\"--only identity\" for one part)"

up:
	@scripts/stack.sh up

down:
	@scripts/stack.sh down

deps:
	@scripts/stack.sh deps

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets --quiet -- -D warnings

test-rust: deps
	cargo build --workspace --bins --quiet
	@$(LOCAL_ENV); if command -v cargo-nextest >/dev/null 2>&1; then \
		cargo nextest run --workspace --no-fail-fast; \
	else \
		cargo test --workspace --no-fail-fast; \
	fi

test-infra: deps
	.venv/bin/pytest tests/infra -q

test-js: deps
	cargo build --quiet -p identity -p yard
	scripts/test-js.sh

# Schemathesis against every HTTP service's OpenAPI document, on the real binaries (scripts/fuzz.sh).
fuzz: deps
	cargo build --quiet -p identity -p tasks -p mail -p yard
	scripts/fuzz.sh

test: fmt-check clippy test-rust test-infra test-js fuzz

bench: deps
	cargo build --quiet --profile bench -p identity -p tasks -p mail -p event-archive -p mailer -p ses-suppressor -p switchyard-bench
	@$(LOCAL_ENV); cargo run --quiet --profile bench -p switchyard-bench -- --out target/bench $(BENCH_ARGS)
