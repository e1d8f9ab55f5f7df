# Short commands for humans; CMake does the work. See README.md.
BUILD ?= build/release
ASAN_BUILD ?= build/asan
FUZZ_BUILD ?= build/fuzz
# How long `make fuzz` runs each fuzzer (make test runs each for 20 s).
FUZZ_SECONDS ?= 300
JOBS ?= $(shell nproc)
CMAKE_GEN := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

.PHONY: all setup build run test test-unit test-asan test-fuzz fuzz bench format format-check clean \
	install deb

all: build

setup:
	@scripts/setup.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release

build: setup $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# The main job on embedded defaults: generator -> memory queue -> SQLite in ./spate-data.
# Pass options with ARGS, e.g. make run ARGS="--count 1000000".
run: setup $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target spate
	$(BUILD)/spate run $(ARGS)

# Every test: unit + integration on the release build, then all tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer, then each libFuzzer target briefly.
test: build test-asan test-fuzz
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-unit: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) -L unit

# -O1 -g1, as the sanitizers' docs advise: reports keep function names and lines, and the
# build takes half the time of -O2 -g (it is most of `make test`).
$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
	  -DSPATE_SANITIZE=ON -DSPATE_BUILD_BENCH=OFF

test-asan: setup $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

# The fuzz targets (fuzz/) as libFuzzer binaries, built with clang, ASan and UBSan. test-fuzz
# runs each for 20 s from its seed corpus; `make fuzz` runs each for FUZZ_SECONDS, keeping the
# corpus it grows in $(FUZZ_BUILD)/fuzz-work between runs. Crash inputs land in
# $(FUZZ_BUILD)/fuzz-work/artifacts.
$(FUZZ_BUILD)/CMakeCache.txt:
	CC=clang-14 CXX=clang++-14 cmake -S . -B $(FUZZ_BUILD) $(CMAKE_GEN) \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPATE_FUZZ=ON -DSPATE_BUILD_TESTS=OFF \
	  -DSPATE_BUILD_BENCH=OFF

test-fuzz: setup $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers
	ctest --test-dir $(FUZZ_BUILD) --output-on-failure -j $(JOBS) -L fuzz

fuzz: setup $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers
	for f in $(FUZZ_BUILD)/fuzz/*_fuzz; do \
	  name=$$(basename $$f _fuzz); \
	  fuzz/run_fuzzer.sh $$f fuzz/corpus/$$name $(FUZZ_SECONDS) $(FUZZ_BUILD)/fuzz-work || exit 1; \
	done

# Installs under PREFIX (DESTDIR honoured, for staging): bin/spate, the man page, the bash
# completion, share/doc/spate/examples. Nothing outside PREFIX: /etc/spate and the systemd
# units come with the Debian package (make deb).
PREFIX ?= /usr/local
install: setup $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target spate_dist
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix $(PREFIX)

# The Debian package, build/spate_<version>_<arch>.deb (CPack; Depends from dpkg-shlibdeps).
# Its own tree without -march=native, so the package runs on any x86-64 (or arm64) host, not
# only on CPUs like the one that built it; no tests or benchmarks in that tree.
DEB_BUILD ?= build/deb
$(DEB_BUILD)/CMakeCache.txt:
	cmake -S . -B $(DEB_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release -DSPATE_NATIVE=OFF \
	  -DSPATE_BUILD_TESTS=OFF -DSPATE_BUILD_BENCH=OFF

deb: setup $(DEB_BUILD)/CMakeCache.txt
	cmake --build $(DEB_BUILD) -j $(JOBS) --target spate_dist
	cd $(DEB_BUILD) && cpack -G DEB -B $(CURDIR)/build
	@ls -l build/*.deb

bench: build
	bench/run.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf build
