# The two commands: `make demo` and `make test`. Everything else is a step they use.
BUILD      ?= build
BUILD_ASAN ?= build-asan
JOBS       ?= $(shell nproc)

.PHONY: all deps build demo test test-unit test-asan clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

# Builds examples/hello for the host architecture, shows the image, then invokes it.
demo: build
	scripts/demo.sh $(BUILD)/lbox

$(BUILD_ASAN)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DLBOX_SANITIZE=ON -DLBOX_INTEGRATION=OFF >/dev/null

# As root, after scripts/install-deps.sh, every unit test can run: a test that would skip
# fails instead (tests/unit/skip_unless.h).
NO_SKIP := $(if $(filter 0,$(shell id -u)),LBOX_TEST_NO_SKIP=1)

# The unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: deps $(BUILD_ASAN)/Makefile
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && $(NO_SKIP) ctest --output-on-failure -L unit

test: build test-asan
	cd $(BUILD) && $(NO_SKIP) ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
