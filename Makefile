# `make test` and `make bench` are the README's two set-up commands: each
# installs the Debian packages Larder needs when they are missing, then runs.
SHELL := /bin/bash
DEB_PACKAGES := libjemalloc-dev liblmdb-dev lmdb-utils curl redis-server
# What the benchmarks use besides: wrk drives the example service (make example-load).
BENCH_PACKAGES := wrk
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CC ?= cc

.PHONY: deps bench-deps install-packages test bench tsan asan sanitizers-ci core-warnings docs clean example example-smoke \
	example-load fuzz fuzz-build fuzz-seeds

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
# Under CI (CI=true) each sanitizer's scratch directory is removed once its run passes, so the
# two never take the disk at once.
sanitizers-ci:
	@$(MAKE) --no-print-directory tsan TSAN_FILTER='$(TSAN_CI_FILTER)'
	@$(if $(filter true,$(CI)),rm -rf .build-tsan)
	@$(MAKE) --no-print-directory asan ASAN_SKIP=BenchSmokeTests
	@$(if $(filter true,$(CI)),rm -rf .build-asan)

# Coverage-guided fuzzing (Fuzz/README.md): libFuzzer targets for the C core and for each decoder
# of untrusted bytes. `make fuzz FUZZ_SECONDS=N` runs each for N seconds and fails on a finding.
# The C core is compiled directly by the toolchain's clang; the Swift targets exist in
# Package.swift only under LARDER_FUZZ. swiftc keeps only the last -sanitize= it is given, so
# the combined one comes after SwiftPM's own (which still instrument the C targets and link).
FUZZ_SECONDS ?= 30
FUZZ_SCRATCH ?= .build-fuzz
# debug (quicker to build, Swift assertions on) or release (several times the executions per second).
FUZZ_CONFIG ?= debug
FUZZ_CC := $(dir $(shell readlink -f $$(command -v swiftc)))clang
FUZZ_CORE := $(FUZZ_SCRATCH)/core/larder-core-fuzz
FUZZ_SWIFT_TARGETS := FuzzDiskRecord FuzzJournalFrames FuzzJournalOps FuzzRecencyKey FuzzCallKey \
	FuzzByteCodable FuzzRESP3Reply FuzzRESP3Push
# Debug builds enable testing (the targets' @testable import); a release build is told to.
FUZZ_SWIFT_FLAGS := --scratch-path $(FUZZ_SCRATCH) -c $(FUZZ_CONFIG) $(if $(filter release,$(FUZZ_CONFIG)),-Xswiftc -enable-testing) \
	--sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld

fuzz-build: deps
	@mkdir -p $(dir $(FUZZ_CORE))
	$(FUZZ_CC) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -fsanitize-coverage-ignorelist=Fuzz/Core/coverage-ignore.txt \
	  -Wall -Wextra -Werror -fuse-ld=lld -ICSupport/CLarderCore/include \
	  CSupport/CLarderCore/*.c Fuzz/Core/*.c -o $(FUZZ_CORE)
	@for t in $(FUZZ_SWIFT_TARGETS); do \
	  LARDER_FUZZ=1 swift build $(FUZZ_SWIFT_FLAGS) --product $$t || exit 1; \
	done

fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_SCRATCH=$(FUZZ_SCRATCH) FUZZ_CONFIG=$(FUZZ_CONFIG) Fuzz/run.sh

# Rewrites the seed corpora from the real encoders (after a format change, say).
fuzz-seeds: fuzz-build
	python3 Fuzz/Core/seeds.py Fuzz/corpus/core
	@for t in disk-record:FuzzDiskRecord journal-frames:FuzzJournalFrames journal-ops:FuzzJournalOps \
	  recency-key:FuzzRecencyKey call-key:FuzzCallKey byte-codable:FuzzByteCodable \
	  resp3-reply:FuzzRESP3Reply resp3-push:FuzzRESP3Push; do \
	  rm -rf Fuzz/corpus/$${t%%:*}; \
	  LARDER_FUZZ_WRITE_SEEDS=Fuzz/corpus/$${t%%:*} $(FUZZ_SCRATCH)/$(FUZZ_CONFIG)/$${t#*:} || exit 1; \
	done

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
	rm -rf .build $(FUZZ_SCRATCH)
