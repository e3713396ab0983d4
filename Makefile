# Wrapper over CMake. `make` builds build/bpfdiag; `make run` starts `bpfdiag top` on this host
# when it is a Kubernetes node (or with LOCAL=1), elsewhere a demo on a single-node cluster of its
# own (tools/demo/demo.py; KEEP=1 leaves it up, ONCE=1 prints one table instead of the full
# screen); `make test` builds with ASan+UBSan and runs every test. All install missing packages
# first.
BUILD      ?= build
TEST_BUILD ?= build-test
JOBS       ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all build deps run test unit e2e bench fuzz format format-check clean

all: build

deps:
	@tools/deps.sh build

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@if [ "$$(id -u)" != 0 ]; then echo "make run: run as root (BPF needs it)" >&2; exit 1; fi
	@tools/deps.sh run
	@tools/demo/demo.py --bpfdiag $(BUILD)/bpfdiag $(if $(filter 1,$(LOCAL)),--local) \
		$(if $(filter 1,$(KEEP)),--keep) $(if $(filter 1,$(ONCE)),--once)

test:
	@tools/deps.sh test
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DBPFDIAG_SANITIZE=ON -DBUILD_TESTING=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	cd $(TEST_BUILD) && ctest --output-on-failure --timeout 600 $(CTEST_ARGS)

unit:
	@$(MAKE) --no-print-directory test CTEST_ARGS="-L unit"

e2e:
	@$(MAKE) --no-print-directory test CTEST_ARGS="-L e2e"

# Benchmarks (docs/PERFORMANCE.md): overhead measured side by side with peers, as root.
bench: build
	@tools/deps.sh bench
	tools/bench/bench.py $(BENCH_ARGS)

# Coverage-guided fuzzing with libFuzzer (clang): each target for SECONDS, starting from its
# seed corpus in tests/fuzz/corpus/; new inputs go to build-fuzz/corpus-*, crashes to
# build-fuzz/ (add a reproducer to the seed corpus when you fix one).
SECONDS ?= 60
fuzz:
	@tools/deps.sh fuzz
	@CC=clang cmake -S . -B build-fuzz -DBPFDIAG_LIBFUZZER=ON -DBUILD_TESTING=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_agent fuzz_exporters
	@for t in agent exporters; do \
		mkdir -p build-fuzz/corpus-$$t; \
		echo "fuzz_$$t: $(SECONDS) s"; \
		(cd build-fuzz && ./tests/fuzz_$$t -max_total_time=$(SECONDS) -print_final_stats=1 \
			corpus-$$t ../tests/fuzz/corpus/$$t 2>&1 | grep -E "stat::number_of_executed_units|^==[0-9]+==ERROR|SUMMARY:|Test unit written") || exit 1; \
	done

FORMAT_FILES = $(shell git ls-files '*.c' '*.h' | grep -v -E '(^|/)(vmlinux[^/]*\.h|.*\.pb-c\.[ch]|.*\.skel\.h)$$')

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES)
	@missing=$$(for f in $(FORMAT_FILES); do head -n 1 $$f | grep -q 'SPDX-License-Identifier: ' || echo $$f; done); \
	if [ -n "$$missing" ]; then echo "no SPDX-License-Identifier on the first line of:" $$missing >&2; exit 1; fi

clean:
	rm -rf $(BUILD) $(TEST_BUILD) build-fuzz
