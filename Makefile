# Wrapper over CMake. `make` builds build/bpfdiag; `make run` starts `bpfdiag top` on this host;
# `make test` builds with ASan+UBSan and runs every test. All install missing packages first.
BUILD      ?= build
TEST_BUILD ?= build-test
JOBS       ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all build deps run test unit e2e bench format format-check clean

all: build

deps:
	@tools/deps.sh build

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@if [ "$$(id -u)" != 0 ]; then echo "make run: run as root (BPF needs it)" >&2; exit 1; fi
	$(BUILD)/bpfdiag top

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

FORMAT_FILES = $(shell git ls-files '*.c' '*.h' | grep -v -E '(^|/)(vmlinux[^/]*\.h|.*\.pb-c\.[ch]|.*\.skel\.h)$$')

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
