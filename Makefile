# Two commands for a fresh machine (see README.md):
#   make demo   - set up, then run the main job (train a model, run it on the virtual device)
#   make test   - set up, then run every test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
BUILD  := .build/host

.PHONY: setup demo test native wheel clean

setup: $(VENV)/.setup-done

$(VENV)/.setup-done: host/pyproject.toml host/CMakeLists.txt tools/setup.sh
	bash tools/setup.sh
	touch $@

native: setup
	cmake -S firmware/host -B $(BUILD) $(if $(wildcard $(BUILD)/CMakeCache.txt),,-G Ninja) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD)

# The checkout's current C code (.build/host), not the copy the editable
# install built at setup time.
demo: setup native
	RUV_BUILD_DIR=$(CURDIR)/$(BUILD) $(BIN)/ruv-temporal demo

test: setup
	bash tools/run_tests.sh

# The installable wheel, native parts inside (docs/packaging.md).
wheel: setup
	$(BIN)/pip wheel --no-deps -w dist ./host

clean:
	rm -rf .build dist
