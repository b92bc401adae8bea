# Two commands for a fresh machine (see README.md):
#   make demo   - set up, then run the main job (train a model, run it on the virtual device)
#   make test   - set up, then run every test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
BUILD  := build/host

.PHONY: setup demo test native vdev clean

setup: $(VENV)/.setup-done

$(VENV)/.setup-done: host/pyproject.toml tools/setup.sh
	bash tools/setup.sh
	touch $@

native: setup
	cmake -S firmware/host -B $(BUILD) $(if $(wildcard $(BUILD)/CMakeCache.txt),,-G Ninja) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD)

demo: setup native
	$(BIN)/ruv-temporal demo

test: setup
	bash tools/run_tests.sh

clean:
	rm -rf build
