# The README's two promises: `make demo` and `make test` work on a fresh machine.
.PHONY: setup test lint unit demo bench bench-large bench-cluster bench-memo bench-startup bench-api docs clean

setup:
	@scripts/setup.sh

test: setup lint
	@scripts/test.sh

unit: setup
	@.venv/bin/pytest -q tests/core tests/ipfs/test_multipart.py

lint: setup
	@.venv/bin/ruff format --check codsh tests bench scripts
	@.venv/bin/ruff check codsh tests bench scripts
	@.venv/bin/mypy codsh

demo: setup
	@scripts/demo.sh

bench: setup
	@.venv/bin/python bench/one_node.py

bench-large: setup
	@.venv/bin/python bench/large_files.py

bench-cluster: setup
	@.venv/bin/python bench/cluster.py

bench-memo: setup
	@.venv/bin/python bench/memo_rerun.py

bench-startup: setup
	@.venv/bin/python bench/startup.py

bench-api: setup
	@.venv/bin/python bench/api_start.py

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
