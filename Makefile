.PHONY: run test stop lint bench
run:  ## install, start services, migrate, seed the demo tenant, start web + worker + beat
	@bash scripts/run.sh
test:  ## the whole test suite against real PostgreSQL and Redis
	@bash scripts/test.sh
stop:
	@bash scripts/stop.sh
lint:
	@.venv/bin/ruff check .
	@.venv/bin/lint-imports --no-cache
