# kiln — top-level entry points. Everything goes through CMake; this file only names the jobs.
#   make          build build/kiln and the library
#   make test     install what is missing, build, run every test (CTest)
#   make demo     install what is missing, build, run the main job (kiln compare on zoo:resnet50)
#   make test-asan  the same tests built with AddressSanitizer + UndefinedBehaviorSanitizer
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build setup test demo test-asan clean format

all: build

setup:
	@scripts/setup.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: setup build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 1800

demo: setup build
	scripts/demo.sh $(BUILD)/kiln

build-asan/CMakeCache.txt:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKILN_SANITIZE=ON -DKILN_CUDA=OFF $(CMAKE_FLAGS)

test-asan: setup build-asan/CMakeCache.txt
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) -L asan --timeout 1800

clean:
	rm -rf $(BUILD) build-asan

format:
	clang-format -i $$(git ls-files '*.c' '*.h' '*.cu')
