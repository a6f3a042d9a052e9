# The README's two promises: `make demo` and `make test` work on a fresh machine.
.PHONY: setup test lint unit demo bench bench-cluster bench-memo docs clean

setup:
	@scripts/setup.sh

test: setup lint
	@scripts/test.sh

unit: setup
	@.venv/bin/pytest -q tests/test_plan.py tests/test_merge.py tests/test_spec.py tests/ipfs/test_multipart.py tests/ipfs/test_unixfs.py

lint: setup
	@.venv/bin/ruff format --check codsh tests bench scripts
	@.venv/bin/ruff check codsh tests bench scripts
	@.venv/bin/mypy codsh

demo: setup
	@scripts/demo.sh

bench: setup
	@.venv/bin/python bench/one_node.py

bench-cluster: setup
	@.venv/bin/python bench/cluster.py

bench-memo: setup
	@.venv/bin/python bench/memo_rerun.py

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
