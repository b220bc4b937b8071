"""Benchmarks: ``make bench`` and ``python -m bench.<name>``. They run Duly in development (scratch databases,
throw-away keys) unless DULY_ENV says otherwise; every process they start inherits it."""

import os

os.environ.setdefault("DULY_ENV", "development")
