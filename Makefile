# kube-coder: the two-command quick start and the deploy targets.
#
#   make run    set up, build and run the control plane on this machine
#   make test   set up, then run every test (bazel test //...)
#
# `make help` lists everything.

BAZEL ?= bazel
SHELL := /bin/bash

.DEFAULT_GOAL := help

.PHONY: help setup build run test test-asan test-flaky fresh-check install fuzz format format-check clean

help: ## Show all commands
	@grep -hE '^[a-zA-Z0-9_%-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  %-22s %s\n", $$1, $$2}'

setup: ## Install build, test and run dependencies (Debian packages, npm tools)
	./scripts/setup.sh

build: setup ## Build every binary and library
	$(BAZEL) build //...

run: build ## Run the control plane on this machine (KC_HOME, KC_PORT, KC_GRPC_PORT, KC_AGENT)
	./scripts/run-local.sh

test: setup ## Run every test: bazel test //...
	$(BAZEL) test //...

test-asan: setup ## Run every test under ASan + UBSan
	$(BAZEL) test --config=asan //...

test-flaky: setup ## Run every test RUNS times (default 5) beside a CPU and I/O load
	./scripts/test-flaky.sh

fresh-check: ## Run setup + `make test` in a brand-new Debian bookworm root (podman)
	./scripts/fresh-check.sh

install: build ## Install libkcclient, kc and kc.1 (PREFIX=/usr/local, DESTDIR=)
	$(BAZEL) build //client:dist && client/install.sh PREFIX=$(or $(PREFIX),/usr/local) DESTDIR=$(DESTDIR)

fuzz: setup ## Fuzz every parser with libFuzzer for FUZZ_SECONDS each (default 30)
	./scripts/fuzz.sh

format: ## clang-format every C file in place (.clang-format)
	./scripts/format.sh

format-check: ## Fail if a C file is not clang-formatted (CI runs it)
	./scripts/format.sh --check

clean: ## Remove build outputs
	$(BAZEL) clean

-include mk/*.mk
