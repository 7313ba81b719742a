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

# The main job (until `gaincell reproduce` lands): make a random-weight tiny model and generate from it.
run: build
	./$(BUILD)/gaincell init --preset tiny --seed 1 --out $(BUILD)/models/tiny
	./$(BUILD)/gaincell info --model $(BUILD)/models/tiny
	./$(BUILD)/gaincell generate --model $(BUILD)/models/tiny --prompt "To be, or not to be" -n 32 --seed 1

bench: deps
	cmake -S . -B $(BUILD)-bench -DCMAKE_BUILD_TYPE=Release -DGAINCELL_BUILD_BENCHMARKS=ON -DGAINCELL_BUILD_TESTS=OFF
	cmake --build $(BUILD)-bench -j$(JOBS)

format:
	find src tests bench -name '*.h' -o -name '*.cpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(BUILD)-bench
