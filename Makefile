# `make test` and `make bench` are the README's two set-up commands: each
# installs the Debian packages Larder needs when they are missing, then runs.
SHELL := /bin/bash
DEB_PACKAGES := libjemalloc-dev liblmdb-dev lmdb-utils curl redis-server
# What the benchmarks use besides: wrk drives the example service (make example-load).
BENCH_PACKAGES := wrk
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CC ?= cc

.PHONY: deps bench-deps install-packages test bench tsan asan sanitizers-ci core-warnings docs clean example example-smoke example-load

deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(DEB_PACKAGES)"
	@command -v redis-cli >/dev/null || { echo "redis-cli is missing after installing redis-server"; exit 1; }

bench-deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(DEB_PACKAGES) $(BENCH_PACKAGES)"

install-packages:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# The C core must stay warning-free under -Wall -Wextra (SwiftPM forbids
# unsafe warning flags in a package others depend on, so it is checked here).
core-warnings:
	@for f in CSupport/CLarderCore/*.c CSupport/CLarderSystem/*.c; do \
	  $(CC) -std=c11 -Wall -Wextra -Wpedantic -Werror -O2 -I$$(dirname $$f)/include -c $$f -o /dev/null || exit 1; \
	done; echo "C targets: -Wall -Wextra -Wpedantic clean"

# The DocC catalog is built (and fails on any warning) as part of the tests.
test: deps core-warnings
	swift build --build-tests
	$(MAKE) --no-print-directory docs
	swift test --skip-build

bench: bench-deps
	swift run -c release Bench $(BENCH_ARGS)

# The example service (Examples/CachedService): run it on PORT (default 8080),
# smoke-test it as CI does, or measure it under wrk with and without the cache.
example: deps
	cd Examples/CachedService && swift run CachedService

example-smoke: deps
	Examples/CachedService/smoke-test.sh

example-load: bench-deps
	Examples/CachedService/load.sh

# ThreadSanitizer over the cache's tests. swiftc links TSan without its C++
# interceptors, but Debian's jemalloc exports operator new/delete: add them,
# or TSan aborts at start-up with mismatched allocators.
TSAN_RT = $(firstword $(wildcard $(dir $(shell readlink -f $$(command -v swiftc)))../lib/clang/*/lib/linux))
TSAN_FLAGS = --sanitize=thread --scratch-path .build-tsan \
	-Xlinker --whole-archive -Xlinker $(TSAN_RT)/libclang_rt.tsan_cxx-x86_64.a -Xlinker --no-whole-archive \
	-Xlinker --dynamic-list=$(TSAN_RT)/libclang_rt.tsan_cxx-x86_64.a.syms

tsan: deps
	swift build --build-tests $(TSAN_FLAGS)
	swift test --skip-build $(TSAN_FLAGS) --filter '$(or $(TSAN_FILTER),Cache)'

# What CI runs under ThreadSanitizer: the concurrency suites (threads on one cache, lock-free
# reads, tiers under concurrent callers), the memory governor, and persistence.
TSAN_CI_FILTER = CacheConcurrencyTests|CacheOptimisticReadTests|CacheTier|CacheAccessRecording|Memory|Persistence|Soak

# AddressSanitizer over the whole test suite (ASan's allocator serves malloc, so the suites that
# measure jemalloc skip themselves); ASAN_FILTER narrows it. Its C++ interceptors are linked in
# for the reason TSan's are; leak detection is off because the Swift runtime and XCTest keep
# allocations for the life of the process.
ASAN_FLAGS = --sanitize=address --scratch-path .build-asan \
	-Xlinker --whole-archive -Xlinker $(TSAN_RT)/libclang_rt.asan_cxx-x86_64.a -Xlinker --no-whole-archive \
	-Xlinker --dynamic-list=$(TSAN_RT)/libclang_rt.asan_cxx-x86_64.a.syms

asan: deps
	swift build --build-tests $(ASAN_FLAGS)
	ASAN_OPTIONS=detect_leaks=0 swift test --skip-build $(ASAN_FLAGS) $(if $(ASAN_FILTER),--filter '$(ASAN_FILTER)') \
	  $(if $(ASAN_SKIP),--skip '$(ASAN_SKIP)')

# What CI runs under the sanitizers: TSan over TSAN_CI_FILTER; ASan over every suite but the
# Bench smoke test (Bench's quick run is not library code, and takes most of ASan's time).
sanitizers-ci:
	@$(MAKE) --no-print-directory tsan TSAN_FILTER='$(TSAN_CI_FILTER)'
	@$(MAKE) --no-print-directory asan ASAN_SKIP=BenchSmokeTests

# The DocC catalog (Sources/Larder/Larder.docc) with the library's symbol
# documentation, built by the toolchain's `docc`; any warning (an unresolved
# ``link``, an undocumented parameter) fails the build. dump-symbol-graph
# builds the package (reusing the debug build of `make test`) and extracts one
# graph per module; it exits non-zero because it cannot load the test modules
# SwiftPM synthesizes, so only Larder's graphs are required, copied afresh.
SYMBOL_GRAPHS := .build/symbol-graphs/Larder

docs: deps
	@mkdir -p .build
	bin="$$(swift build --show-bin-path)"; rm -rf "$$bin/../symbolgraph" $(SYMBOL_GRAPHS); \
	swift package dump-symbol-graph --minimum-access-level public --skip-synthesized-members \
	  > .build/dump-symbol-graph.log 2>&1; \
	mkdir -p $(SYMBOL_GRAPHS) && cp "$$bin/../symbolgraph"/Larder.symbols.json \
	  "$$bin/../symbolgraph"/Larder@*.symbols.json $(SYMBOL_GRAPHS)/ \
	  || { cat .build/dump-symbol-graph.log; exit 1; }
	docc convert Sources/Larder/Larder.docc --additional-symbol-graph-dir $(SYMBOL_GRAPHS) \
	  --fallback-display-name Larder --fallback-bundle-identifier larder \
	  --output-path .build/Larder.doccarchive --warnings-as-errors

clean:
	rm -rf .build
