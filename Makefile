# weave - a thin wrapper around CMake.  Every target configures as needed.
#
#   make                release build in build/
#   make test           build + the whole suite (CTest)
#   make asan           ASan+UBSan build in build-asan/ + the suite
#   make tsan           TSan build in build-tsan/ + the suite
#   make fuzz           libFuzzer targets (clang), FUZZ_SECONDS each
#   make bench          benchmarks, weave and peers, into bench/RESULTS.md
#   make demo           build and run every example
#   make aarch64        cross build for aarch64, coroutine and channel
#                       suites under qemu-user (needs gcc-aarch64-linux-gnu,
#                       libc6-dev-arm64-cross, qemu-user)
#   make install PREFIX=/some/where
#   make format         clang-format every source file
#
# WERROR=ON turns warnings into errors (CI does).  JOBS=N sets parallelism.

BUILD   ?= build
PREFIX  ?= /usr/local
WERROR  ?= OFF
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE   ?= cmake
CTEST   ?= ctest
CMAKE_FLAGS ?=

configure = $(CMAKE) -S . -B $(1) -DWEAVE_WERROR=$(WERROR) $(2) $(CMAKE_FLAGS) >/dev/null
build     = $(CMAKE) --build $(1) -j $(JOBS)
suite     = cd $(1) && $(2) $(CTEST) -j $(JOBS) --output-on-failure $(CTEST_FLAGS)

# The sanitizers of gcc 12 and clang 14 cannot map their shadow memory on
# kernels with 32 bits of mmap randomisation (vm.mmap_rnd_bits=32, the
# default of newer distributions): run their suites without ASLR.
NOASLR := $(shell setarch $$(uname -m) -R true >/dev/null 2>&1 && echo "setarch $$(uname -m) -R")

.PHONY: all build test asan tsan aarch64 fuzz bench demo install format clean

all: build

build:
	$(call configure,$(BUILD),-DCMAKE_BUILD_TYPE=Release)
	$(call build,$(BUILD))

test: build
	$(call suite,$(BUILD))

asan:
	$(call configure,build-asan,-DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEAVE_SANITIZE=address -DWEAVE_BUILD_BENCH=OFF)
	$(call build,build-asan)
	$(call suite,build-asan,$(NOASLR))

tsan:
	$(call configure,build-tsan,-DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEAVE_SANITIZE=thread -DWEAVE_BUILD_BENCH=OFF)
	$(call build,build-tsan)
	$(call suite,build-tsan,$(NOASLR))

# The aarch64 context switch, run: a cross build whose coroutine and
# channel suites run under qemu-user.  Four cases test what qemu-user does
# not emulate (a guard-page SIGSEGV delivered on the alternate signal
# stack, fork beside running threads, the loop's eventfd kick across
# threads), not the switch; they run natively on x86_64.
AARCH64_SKIP = coro_guard_page_overflow|sched_stack_overflow_names_the_coroutine|coro_fork_while_stacks_are_mapped|sched_kick_never_writes_a_reused_descriptor
aarch64:
	@command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null || \
	  { echo "make aarch64 needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user"; exit 1; }
	$(call configure,build-aarch64,-DCMAKE_BUILD_TYPE=Release -DCMAKE_SYSTEM_NAME=Linux \
	  -DCMAKE_SYSTEM_PROCESSOR=aarch64 -DCMAKE_C_COMPILER=aarch64-linux-gnu-gcc \
	  -DCMAKE_ASM_COMPILER=aarch64-linux-gnu-gcc \
	  "-DCMAKE_CROSSCOMPILING_EMULATOR=qemu-aarch64;-L;/usr/aarch64-linux-gnu" \
	  -DWEAVE_BUILD_BENCH=OFF -DWEAVE_BUILD_EXAMPLES=OFF -DWEAVE_TLS=OFF \
	  -DWEAVE_IO_URING=OFF -DWEAVE_REDIS=OFF)
	$(CMAKE) --build build-aarch64 -j $(JOBS) --target test_coro test_sched test_chan
	cd build-aarch64 && $(CTEST) -j $(JOBS) --output-on-failure -L 'coro|chan' -E '$(AARCH64_SKIP)'

# libFuzzer targets (clang), each run for FUZZ_SECONDS on its corpus:
# new inputs it finds land in fuzz/corpus/<target>/, replayed by `make test`.
FUZZ_SECONDS ?= 60
fuzz:
	CC=clang $(call configure,build-fuzz,-DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEAVE_SANITIZE=address -DWEAVE_FUZZ=ON -DWEAVE_BUILD_BENCH=OFF -DWEAVE_BUILD_EXAMPLES=OFF)
	$(call build,build-fuzz)
	for t in build-fuzz/fuzz/fuzz_*; do case $$t in *_replay) continue;; esac; \
	  $(NOASLR) $$t -max_total_time=$(FUZZ_SECONDS) fuzz/corpus/$${t##*/fuzz_} || exit 1; done

bench: build
	bench/run $(BENCH_ARGS)

demo: build
	@examples/run-all $(BUILD)/examples

install: build
	$(CMAKE) --install $(BUILD) --prefix $(PREFIX)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-tsan build-clang build-fuzz build-aarch64
