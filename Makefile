# Switchyard. The two commands a newcomer needs: `make up` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# One shared build directory outside the checkout, so clean clones (CI) reuse compiled dependencies.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/switchyard-target
export CARGO_TERM_COLOR ?= never
LOCAL_ENV := source .local/env
# The AWS emulator `make up` starts: moto, or localstack (LocalStack in host mode, scripts/stack.sh).
EMULATOR ?= moto
E2E := if command -v cargo-nextest >/dev/null 2>&1; then cargo nextest run -p switchyard-tests --test e2e --no-fail-fast; \
	else cargo test -p switchyard-tests --test e2e --no-fail-fast; fi
BENCH_BINS := -p identity -p tasks -p mail -p event-archive -p mailer -p ses-suppressor -p switchyard-bench

.PHONY: help up down deps test fmt-check clippy test-rust test-infra test-js fuzz bench test-localstack bench-localstack

help:
	@echo "make up     - start moto, Postgres, Redis, provision the topology and run every service and worker"
	@echo "              (EMULATOR=localstack: on LocalStack, 127.0.0.1:4567 or LOCALSTACK_PORT)"
	@echo "make down   - stop what make up started"
	@echo "make test   - fmt, clippy and the full test suite against real moto, Postgres and Redis"
	@echo "make fuzz   - schemathesis against identity, tasks and mail (part of make test; FUZZ_SEED=n reproduces)"
	@echo "make bench  - benchmarks (table on stdout, JSON under target/bench/; BENCH_ARGS=\"--only identity\" for one part)"
	@echo "make test-localstack  - the whole e2e suite against a pinned LocalStack of its own (CI runs it after make test)"
	@echo "make bench-localstack - the platform and worker benchmarks against LocalStack (JSON under target/bench/localstack/)"

up:
	@EMULATOR=$(EMULATOR) scripts/stack.sh up

down:
	@scripts/stack.sh down

# What make test needs: the venvs, moto, Postgres, Redis.
deps:
	@EMULATOR=moto scripts/stack.sh deps

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
	cargo build --quiet --profile bench $(BENCH_BINS)
	@$(LOCAL_ENV); cargo run --quiet --profile bench -p switchyard-bench -- --out target/bench $(BENCH_ARGS)

# The whole e2e suite against LocalStack (requirements-localstack.txt, host mode) started on a free port for this run
# and stopped after it; Postgres and Redis as for make test. moto is not needed.
test-localstack:
	@EMULATOR=localstack scripts/stack.sh deps
	cargo build --workspace --bins --quiet
	@$(LOCAL_ENV); scripts/stack.sh with-localstack localstack-test bash -c '$(E2E)'

# make bench's throughput parts (platform: runtime and relay against plain SDK loops; worker: CPU per message against
# the Python reference worker) against a LocalStack of their own. BENCH_ARGS replaces the parts.
bench-localstack:
	@EMULATOR=localstack scripts/stack.sh deps
	cargo build --quiet --profile bench $(BENCH_BINS)
	@$(LOCAL_ENV); scripts/stack.sh with-localstack localstack-bench \
		cargo run --quiet --profile bench -p switchyard-bench -- --out target/bench/localstack $(or $(BENCH_ARGS),--only platform --only worker)
