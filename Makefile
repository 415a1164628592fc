# Entry points for people and CI: setup, build, demo, test.
BUILD ?= build
TYPE ?= Release
JOBS ?= $(shell nproc)
DIGITLAB := $(BUILD)/digitlab
DEMO_RUN ?= runs/demo
DEMO_EPOCHS ?= 5
# Fuzzing: 0 builds the fuzzers and runs each over its corpus once; N > 0 fuzzes each N seconds.
FUZZ_SECONDS ?= 0
# Inputs up to 1 MiB, so that deep nesting (JSON, TOML, specs) and long requests are reached.
FUZZ_MAX_LEN ?= 1048576
FUZZ_TARGETS := fuzz_idx fuzz_spec fuzz_config fuzz_tfevents fuzz_image fuzz_http fuzz_request fuzz_space

.PHONY: all setup configure build program demo test test-all sanitize fuzz format clean

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

# Setup, build, run every test but those labelled slow, then the unit tests under sanitizers.
test: setup
	@$(MAKE) --no-print-directory build
	@cd $(BUILD) && ctest -LE slow --output-on-failure -j $(JOBS)
	@$(MAKE) --no-print-directory sanitize

# The torch-free libraries and unit tests (fuzz corpus replays included) built with clang under
# AddressSanitizer and UndefinedBehaviorSanitizer (CMakePresets.json, build-sanitize/).
sanitize:
	@cmake --preset sanitize >/dev/null
	@cmake --build --preset sanitize -j $(JOBS)
	@ctest --preset sanitize -j $(JOBS)

# libFuzzer targets (tests/fuzz, build-fuzz/). With FUZZ_SECONDS=N each runs N seconds from its
# corpus; new inputs land in build-fuzz/corpus/<target>/ and are merged (only those adding
# coverage) into tests/fuzz/corpus/<target>/; a crash stops here, its input in
# build-fuzz/artifacts/<target>/.
fuzz:
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  bin=build-fuzz/fuzz/$$t; seeds=tests/fuzz/corpus/$$t; dict=; \
	  [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
	  if [ "$(FUZZ_SECONDS)" -gt 0 ]; then \
	    mkdir -p build-fuzz/corpus/$$t build-fuzz/artifacts/$$t; \
	    echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	    $$bin -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) -timeout=10 \
	      -print_final_stats=1 $$dict \
	      -artifact_prefix=build-fuzz/artifacts/$$t/ build-fuzz/corpus/$$t $$seeds \
	      2>build-fuzz/$$t.log || { tail -40 build-fuzz/$$t.log; exit 1; }; \
	    grep -E '^stat::(number_of_executed_units|new_units_added)' build-fuzz/$$t.log; \
	    $$bin -merge=1 $$seeds build-fuzz/corpus/$$t 2>>build-fuzz/$$t.log; \
	  else \
	    $$bin -runs=0 $$seeds 2>build-fuzz/$$t.log || { tail -40 build-fuzz/$$t.log; exit 1; }; \
	    echo "fuzz: $$t corpus ok ($$(ls $$seeds | wc -l) inputs)"; \
	  fi; \
	done

test-all: setup
	@$(MAKE) --no-print-directory build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

format:
	@git ls-files '*.cpp' '*.h' | xargs clang-format -i

clean:
	@rm -rf $(BUILD)
