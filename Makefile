# Tollgate: two commands.
#   make run   installs what is missing, starts a private Postgres (54330) and Redis (63790),
#              makes dev certificates, migrates and serves https://127.0.0.1:8443 (Ctrl-C stops all).
#   make test  the same set-up on its own ports (54331, 63791), then `swift test`, then the memory
#              test that needs the machine to itself (TOLLGATE_MEMORY_TESTS=1, a million rate-limit subjects).
#              Suites run one after another: the edge tests run real servers inside the test process
#              with 1 s commit deadlines, and on 2 cores parallel suites starve them (main before this
#              change failed 3 of them in a parallel run on this machine; serial: all pass in ~2 min).
#              Its Postgres also speaks TLS, and its Redis on 63793, with a test CA in .tollgate/test/tls/;
#              TOLLGATE_TEST_POSTGRES_TLS_URL and TOLLGATE_TEST_REDIS_TLS_URL point the TLS tests at them
#              (unset, as with your own servers, those tests skip and say so).
# With TOLLGATE_POSTGRES_URL / TOLLGATE_REDIS_URL set, your own servers are used and none is started.

SHELL := /bin/bash
SWIFT ?= swift
DEV_PG_PORT ?= 54330
DEV_REDIS_PORT ?= 63790
TEST_PG_PORT ?= 54331
TEST_REDIS_PORT ?= 63791
TEST_REDIS_TLS_PORT ?= 63793
CONFIG ?= config/tollgate.yaml

.PHONY: run test bench build certs services-dev services-test stop clean fuzz fuzz-smoke ops-test

certs:
	@certs/make-dev-certs.sh

build:
	$(SWIFT) build

run: certs
	@scripts/services.sh up dev $(DEV_PG_PORT) $(DEV_REDIS_PORT)
	@$(SWIFT) build
	@trap 'scripts/services.sh down dev' EXIT; \
	export TOLLGATE_POSTGRES_URL="$${TOLLGATE_POSTGRES_URL:-postgres://tollgate@127.0.0.1:$(DEV_PG_PORT)/tollgate}"; \
	export TOLLGATE_REDIS_URL="$${TOLLGATE_REDIS_URL:-redis://127.0.0.1:$(DEV_REDIS_PORT)/0}"; \
	echo "edge:    https://127.0.0.1:8443/healthz   (curl --cacert certs/dev/ca.pem --http2 ...)"; \
	echo "admin:   http://127.0.0.1:9090/metrics"; \
	$$($(SWIFT) build --show-bin-path)/tollgate serve --config $(CONFIG) --migrate

# The alert rules and their unit tests (promtool, from Debian's prometheus package, installed if
# missing; its daemon is not wanted and is stopped), and every metric the rules and the Grafana
# dashboard name checked against Sources/ (ops/check_ops.py). Seconds; `make test` runs it first.
ops-test:
	@if ! command -v promtool >/dev/null; then \
	  echo "[ops-test] installing promtool (apt-get install prometheus)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null || exit 1; \
	  if command -v systemctl >/dev/null; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi; \
	fi
	promtool check rules ops/prometheus/tollgate-alerts.yml
	promtool test rules ops/prometheus/tests/*.yml
	python3 ops/check_ops.py

bench:
	@loadtests/bench.sh

# libFuzzer (Fuzz/README.md): `make fuzz` runs every target for FUZZ_RUNS (10^6) executions, or one
# with TARGET=name; `make fuzz-smoke` runs each for FUZZ_SECONDS (5), as CI does. Needs no services.
FUZZ_RUNS ?= 1000000
FUZZ_SECONDS ?= 5
fuzz:
	@scripts/fuzz.sh build
	@FUZZ_RUNS=$(FUZZ_RUNS) scripts/fuzz.sh run $(TARGET)

fuzz-smoke:
	@scripts/fuzz.sh build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh smoke $(TARGET)

# The tests' temporary files (and those of the edges they start) go to one scratch directory,
# removed at the end: tests that stop early leave nothing behind in /tmp.
test: certs ops-test
	@scripts/services.sh up test $(TEST_PG_PORT) $(TEST_REDIS_PORT) $(TEST_REDIS_TLS_PORT)
	@scratch="$$(mktemp -d -t tollgate-tests.XXXXXX)"; \
	trap 'scripts/services.sh down test; rm -rf "$$scratch"' EXIT; \
	export TMPDIR="$$scratch"; \
	export TOLLGATE_TEST_POSTGRES_URL="$${TOLLGATE_POSTGRES_URL:-postgres://tollgate@127.0.0.1:$(TEST_PG_PORT)/tollgate}"; \
	export TOLLGATE_TEST_REDIS_URL="$${TOLLGATE_REDIS_URL:-redis://127.0.0.1:$(TEST_REDIS_PORT)/0}"; \
	test_ca="$(CURDIR)/.tollgate/test/tls/ca.pem"; \
	if [[ -z "$${TOLLGATE_POSTGRES_URL:-}" ]]; then \
	  export TOLLGATE_TEST_POSTGRES_TLS_URL="postgres://tollgate@127.0.0.1:$(TEST_PG_PORT)/tollgate?sslmode=verify-full&sslrootcert=$$test_ca"; fi; \
	if [[ -z "$${TOLLGATE_REDIS_URL:-}" ]]; then \
	  export TOLLGATE_TEST_REDIS_TLS_URL="rediss://127.0.0.1:$(TEST_REDIS_TLS_PORT)/0" TOLLGATE_TEST_REDIS_TLS_CA="$$test_ca"; fi; \
	unset TOLLGATE_POSTGRES_URL TOLLGATE_REDIS_URL; \
	$(SWIFT) build --build-tests && $(SWIFT) test --skip-build --no-parallel && \
	TOLLGATE_MEMORY_TESTS=1 $(SWIFT) test --skip-build --filter LocalMemory || { \
	  status=$$?; pg_log="$$(cat .tollgate/test/postgres.started 2>/dev/null)/server.log"; \
	  if [[ -f "$$pg_log" ]]; then echo "--- the test Postgres's last errors ($$pg_log):"; \
	    grep -E ' (ERROR|FATAL|PANIC): ' "$$pg_log" | tail -n 20; fi; exit $$status; }

stop:
	@scripts/services.sh down dev
	@scripts/services.sh down test

clean: stop
	rm -rf .build .tollgate
