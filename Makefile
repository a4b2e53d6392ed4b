# Thin wrapper around CMake. The real build lives in CMakeLists.txt.
BUILD       ?= build
ASAN_BUILD  ?= build-asan
JOBS        ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build test test-sanitize run bench clean

all: build

deps:
	@tools/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	@tools/run-tests.sh $(BUILD)

test-sanitize: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DMOCO_SANITIZE=ON -DMOCO_CUDA=OFF $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	@tools/run-tests.sh $(ASAN_BUILD)

# The main job: the seed study (supervised vs MoCo-pretrained, ResNet vs ViT)
# on Fashion-MNIST's four upper-body classes, quick preset (within 15 min on 2 cores).
run: build
	$(BUILD)/moco compare --preset quick --out runs/compare --overwrite

bench: build
	bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
