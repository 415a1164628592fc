# Entry points for people and CI: setup, build, demo, test.
BUILD ?= build
TYPE ?= Release
JOBS ?= $(shell nproc)
DIGITLAB := $(BUILD)/digitlab
DEMO_RUN ?= runs/demo
DEMO_EPOCHS ?= 5

.PHONY: all setup configure build program demo test test-all format clean

all: build

setup:
	@bash scripts/setup

$(BUILD)/CMakeCache.txt:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(TYPE) >/dev/null

configure: $(BUILD)/CMakeCache.txt

build: configure
	@cmake --build $(BUILD) -j $(JOBS)
	@ln -sf $(BUILD)/compile_commands.json compile_commands.json

# The program alone (no tests): what the demo needs.
program: configure
	@cmake --build $(BUILD) -j $(JOBS) --target digitlab

# Setup, build, train the default model (seed-002 CNN) with a cosine learning-rate schedule,
# evaluate it on the test set.
demo: setup
	@$(MAKE) --no-print-directory program
	@$(DIGITLAB) train --out $(DEMO_RUN) --epochs $(DEMO_EPOCHS) --lr-schedule cosine --overwrite
	@$(DIGITLAB) evaluate $(DEMO_RUN)

# Setup, build, run every test but those labelled slow.
test: setup
	@$(MAKE) --no-print-directory build
	@cd $(BUILD) && ctest -LE slow --output-on-failure -j $(JOBS)

test-all: setup
	@$(MAKE) --no-print-directory build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

format:
	@git ls-files '*.cpp' '*.h' | xargs clang-format -i

clean:
	@rm -rf $(BUILD)
