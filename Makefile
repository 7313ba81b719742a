# The two set-up commands of the README: `make run` and `make test`. Both install missing Debian packages.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
DEBS := cmake g++ make pkg-config libopenblas-openmp-dev libdnnl-dev nlohmann-json3-dev libtomlplusplus-dev libcli11-dev \
        libgtest-dev libgmock-dev libbenchmark-dev python3-numpy libsentencepiece-dev \
        python3-dev pybind11-dev python3-pybind11 python3-pytest python3-torch python3-setuptools python3-wheel \
        libopenmpi-dev openmpi-bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

FUZZ_SECONDS ?= 60
FUZZ_TARGETS := safetensors npy config vocab_json merges hw_toml cost_toml device_csv task_jsonl token_file hf_tokenizer_json llama2c_tokenizer llama2c shard_index
FUZZ_DEBS := clang-14 libclang-rt-14-dev libomp-14-dev

.PHONY: all deps build python test test-asan test-cpus fuzz run bench clean format format-check
all: build

deps:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing missing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS)

# The Python package (docs/python.md): the extension and python/gaincell/*.py in $(BUILD)/python, so that
# PYTHONPATH=$(BUILD)/python python3 -c "import gaincell" works (`make build` builds it too).
python: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS) --target python

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer (GCC); any report fails the test (a sanitized
# CLI run by an e2e test aborts: exit 134, never the clean-error exit 1). CI runs it after `make test`.
# allocator_may_return_null: a failed allocation returns null, as without ASan (AlignedBuffer turns it into
# std::bad_alloc; core_test checks that), instead of aborting the test.
# Debug at -Og -g1: compiles ~45 % faster than -O1 -g and runs the suite as fast; -g1 keeps file:line in reports
# (docs/reliability.md, "Sanitizers"). ASAN_TARGETS / ASAN_CTEST_ARGS narrow it.
# The flag-coverage e2e tests (tests/e2e/flags_test.cpp: ~150 CLI runs, many through the analog simulator) run in
# `make test` only: they check what each flag does, and their sanitized runs would add minutes to CI's budget.
ASAN_TARGETS ?=
# The longest e2e runs also stay out of the sanitized pass (measured there in session 5: 170 s, 50 s, 44 s, 38 s,
# 14 s, 14 s of CPU): a whole `reproduce --quick` of each profile, the three-stage adaptation and gain-cell training of
# stories260K, the whole-file tokenizer goldens and the kill/resume loop. Their code paths run sanitized through the
# smaller tests (AdaptLlamaCli.GroupedQueryCalibrationPerKvHead, TrainLlamaCli.Stories260K*, TrainCli.*, the
# tokenizer unit and fuzz-replay tests), and the full tests run in `make test`.
# The MPI tests (Mpi.*, tests/e2e/mpi_test.cpp) start several processes through mpirun each, slow when sanitized on
# 2 cores, and OpenMPI's one-time allocations in MPI_Init are known to trip LeakSanitizer; the one-process paths
# of core/dist.h run sanitized in every other test.
ASAN_CTEST_ARGS ?= -E '^(Flags\.|ReproduceQuick\.|AdaptLlamaCli\.ThreeStages|TrainLlamaCli\.GainCellBackends|HfTokenizerGolden\.WholeFiles|KillResume\.|Mpi\.)'
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1
test-asan: deps
	cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-g1 -Og" -DGAINCELL_SANITIZE=ON \
	  $(CMAKE_FLAGS)
	cmake --build $(BUILD)-asan -j$(JOBS) $(if $(ASAN_TARGETS),--target $(ASAN_TARGETS))
	cd $(BUILD)-asan && $(ASAN_ENV) ctest --output-on-failure -j$(JOBS) $(ASAN_CTEST_ARGS)

# The exact-equality tests of the run-time dispatched kernels (the analog simulator's paths against its reference,
# the noise draws, the quantisers, the optimizer) on emulated CPUs that lack this host's wide instructions: QEMU user
# mode with a Nehalem model runs the baseline x86-64 clones (no AVX, software fmaf) and with a Haswell model the AVX2
# + FMA clones, whatever CPU the tests run on (docs/reliability.md, "Other CPUs"). Reuses the Release build of `make
# test`; CI runs it after `make test`. x86-64 hosts only.
CPU_MODELS ?= Nehalem Haswell
CPU_TESTS ?= AnalogFastVsReference.*:Shapes/AnalogFastVsReference.*:AnalogNoise.*:AnalogStreaming.*:Optimizer.*:Quantiz*:AnalogAttention.*
test-cpus: build
	@if [ "$$(uname -m)" != x86_64 ]; then echo "test-cpus: x86-64 hosts only, skipped"; exit 0; fi; \
	dpkg -s qemu-user >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq qemu-user; }; \
	pids=; for m in $(CPU_MODELS); do \
	  ( cd $(BUILD) && qemu-x86_64 -cpu $$m ./tests/gaincell_unit_tests --gtest_filter='$(CPU_TESTS)' \
	      > test-cpu-$$m.log 2>&1 && echo "test-cpus: $$m: $$(grep -E '^\[  PASSED' test-cpu-$$m.log)" ) \
	    || { echo "test-cpus: $$m FAILED"; cat $(BUILD)/test-cpu-$$m.log; exit 1; } & pids="$$pids $$!"; \
	done; rc=0; for p in $$pids; do wait $$p || rc=1; done; exit $$rc

# libFuzzer: builds every parser target with clang in build-fuzz/ and runs each for FUZZ_SECONDS (one after the
# other). New inputs go to build-fuzz/corpus/<target>, crash inputs to build-fuzz/crashes/<target>-*; copy
# those into tests/fuzz/regressions/<target>/ once fixed. See docs/reliability.md.
fuzz: deps
	@missing=$$(for p in $(FUZZ_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; fi
	cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 -DGAINCELL_FUZZ=ON \
	  -DGAINCELL_BUILD_TESTS=OFF -DGAINCELL_WITH_OPENBLAS=OFF -DGAINCELL_AVX2=OFF
	cmake --build build-fuzz -j$(JOBS) --target fuzz_targets
	@mkdir -p build-fuzz/crashes; status=0; \
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p build-fuzz/corpus/$$t; \
	  echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  ./build-fuzz/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -rss_limit_mb=4096 \
	    -artifact_prefix=build-fuzz/crashes/$$t- build-fuzz/corpus/$$t tests/fuzz/corpus/$$t \
	    > build-fuzz/fuzz_$$t.log 2>&1 || { status=1; echo "   CRASH: see build-fuzz/fuzz_$$t.log"; }; \
	  grep -E "stat::number_of_executed_units|stat::average_exec_per_sec" build-fuzz/fuzz_$$t.log | sed 's/^/   /'; \
	done; exit $$status

# The main job: the paper's story end to end on both profiles, the bundled byte-level model and stories260K on
# TinyStories, with a side-by-side report (docs/reproduce.md). REPRODUCE_FLAGS=--quick for the two-minute
# version, REPRODUCE_FLAGS="--profile shakespeare" for one model.
REPRODUCE_FLAGS ?=
run: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS) --target gaincell
	./$(BUILD)/gaincell reproduce $(REPRODUCE_FLAGS) --out $(BUILD)/reproduce
	@echo "report: $(BUILD)/reproduce/report.html (and report.md, results.json)"

bench: deps
	cmake -S . -B $(BUILD)-bench -DCMAKE_BUILD_TYPE=Release -DGAINCELL_BUILD_BENCHMARKS=ON -DGAINCELL_BUILD_TESTS=OFF
	cmake --build $(BUILD)-bench -j$(JOBS)

# Generated tables (*_tables.cpp, written by tools/gen_*_tables.py) are left as their generators write them.
FORMAT_FILES = find src tests bench python/src \( -name '*.h' -o -name '*.cpp' \) ! -name '*_tables.cpp' -print0
format:
	$(FORMAT_FILES) | xargs -0 clang-format -i

# CI: fails (listing each file and line) when a source file differs from what clang-format (.clang-format) writes.
# clang-format is Debian's (14 on bookworm): another major version formats some constructs differently.
FORMAT_DEBS := clang-format
format-check:
	@missing=$$(for p in $(FORMAT_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi
	$(FORMAT_FILES) | xargs -0 clang-format --dry-run --Werror

clean:
	rm -rf $(BUILD) $(BUILD)-bench $(BUILD)-asan $(BUILD)-asan-ci build-fuzz
