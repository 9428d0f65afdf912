# Soul Lab — shortcuts for the two commands in the README:
#   make run    = scripts/run.sh   (create the virtualenv, install, start the bot)
#   make test   = scripts/test.sh  (install what the tests need and run the whole suite)
.PHONY: run test console bench lint typecheck clean

run:
	@scripts/run.sh

console:
	@scripts/bootstrap.sh
	.venv/bin/python -m bot console

test:
	@scripts/test.sh

bench:
	@scripts/bootstrap.sh dev
	@for f in bench/bench_*.py; do echo "== $$f"; .venv/bin/python $$f || exit 1; done

lint:
	@scripts/bootstrap.sh dev
	.venv/bin/ruff check bot tests bench

typecheck:
	@scripts/bootstrap.sh dev
	.venv/bin/mypy bot/core

clean:
	rm -rf .venv data .pytest_cache
