# One-command set-up: `make demo` and `make test` create .venv, install system packages that are
# missing (apt), install the package with all extras, then run. Both are idempotent: the venv is
# rebuilt only when pyproject.toml changes.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.stamp-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: demo test bench clean-venv sysdeps

$(STAMP): pyproject.toml
	@bash scripts/sysdeps.sh
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[eval,train,test]'
	@rm -f $(VENV)/.stamp-*; touch $@

sysdeps:
	@bash scripts/sysdeps.sh

demo: $(STAMP)
	$(VENV)/bin/neuralcodec demo

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(VENV)/bin/neuralcodec bench entropy --json

clean-venv:
	rm -rf $(VENV)
