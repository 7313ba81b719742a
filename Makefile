# The two set-up commands of the README: `make run` and `make test`. Both install missing Debian packages.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
DEBS := cmake g++ make pkg-config libopenblas-openmp-dev nlohmann-json3-dev libtomlplusplus-dev libcli11-dev \
        libgtest-dev libgmock-dev libbenchmark-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build test run bench clean format
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

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# The main job: the paper's story end to end on the bundled model (docs/reproduce.md). REPRODUCE_FLAGS=--quick
# for the two-minute version.
REPRODUCE_FLAGS ?=
run: build
	./$(BUILD)/gaincell reproduce $(REPRODUCE_FLAGS) --out $(BUILD)/reproduce
	@echo "report: $(BUILD)/reproduce/report.html (and report.md, results.json)"

bench: deps
	cmake -S . -B $(BUILD)-bench -DCMAKE_BUILD_TYPE=Release -DGAINCELL_BUILD_BENCHMARKS=ON -DGAINCELL_BUILD_TESTS=OFF
	cmake --build $(BUILD)-bench -j$(JOBS)

format:
	find src tests bench -name '*.h' -o -name '*.cpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(BUILD)-bench
