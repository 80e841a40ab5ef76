# `make test` and `make bench` are the README's two set-up commands: each
# installs the Debian packages Larder needs when they are missing, then runs.
SHELL := /bin/bash
DEB_PACKAGES := libjemalloc-dev liblmdb-dev lmdb-utils
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CC ?= cc

.PHONY: deps test bench tsan core-warnings clean

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
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

test: deps core-warnings
	swift build --build-tests
	swift test --skip-build

bench: deps
	swift run -c release Bench $(BENCH_ARGS)

# ThreadSanitizer over the cache's tests. swiftc links TSan without its C++
# interceptors, but Debian's jemalloc exports operator new/delete: add them,
# or TSan aborts at start-up with mismatched allocators.
TSAN_RT = $(firstword $(wildcard $(dir $(shell readlink -f $$(command -v swiftc)))../lib/clang/*/lib/linux))
TSAN_FLAGS = --sanitize=thread --scratch-path .build-tsan \
	-Xlinker --whole-archive -Xlinker $(TSAN_RT)/libclang_rt.tsan_cxx-x86_64.a -Xlinker --no-whole-archive \
	-Xlinker --dynamic-list=$(TSAN_RT)/libclang_rt.tsan_cxx-x86_64.a.syms

tsan: deps
	swift build --build-tests $(TSAN_FLAGS)
	swift test --skip-build $(TSAN_FLAGS) --filter $(or $(TSAN_FILTER),Cache)

clean:
	rm -rf .build
