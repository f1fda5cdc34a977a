# The two commands: `make run` (the whole exchange) and `make test` (the whole suite).
PORT ?= 8000
export PORT

.PHONY: run test setup lint bench-engine bench-matcher bench-api bench-ws

run:
	@bash scripts/bootstrap.sh run
	@bash scripts/demo.sh
	@exec .venv/bin/honcho start -f Procfile -p $(PORT)

test:
	@bash scripts/bootstrap.sh test
	.venv/bin/pytest

lint:
	@bash scripts/bootstrap.sh test
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports

bench-engine:
	@bash scripts/bootstrap.sh test
	.venv/bin/python -m bench.engine --peer

bench-matcher:
	@bash scripts/bootstrap.sh test
	.venv/bin/python -m bench.matcher --rate 5000
	.venv/bin/python -m bench.matcher --rate 0

bench-api:
	@bash scripts/bootstrap.sh test
	.venv/bin/python -m bench.api

bench-ws:
	@bash scripts/bootstrap.sh test
	.venv/bin/python -m bench.ws
