# `make test` and `make bench` are the README's two set-up commands: each
# installs the Debian packages Larder needs when they are missing, then runs.
SHELL := /bin/bash
DEB_PACKAGES := libjemalloc-dev liblmdb-dev lmdb-utils
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CC ?= cc

.PHONY: deps test bench core-warnings clean

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
	@for f in CSupport/CLarderCore/*.c; do \
	  $(CC) -std=c11 -Wall -Wextra -Wpedantic -Werror -O2 -ICSupport/CLarderCore/include -c $$f -o /dev/null || exit 1; \
	done; echo "C core: -Wall -Wextra -Wpedantic clean"

test: deps core-warnings
	swift build --build-tests
	swift test --skip-build

bench: deps
	swift run -c release Bench $(BENCH_ARGS)

clean:
	rm -rf .build
