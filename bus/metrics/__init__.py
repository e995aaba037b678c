"""Prometheus metrics of a worker, served by its health server at GET /metrics.

    figures.py    one consumer's figures: outcomes, handler and commit times, commit sizes
    hooks.py      the one-line calls of consume.py, pipeline.py and settle.py into those figures
    registry.py   one CollectorRegistry per Worker: consumers, paused, group lag/pending, process

The handler figures come from the metrics middleware (bus/middleware/metrics.py, in
DEFAULT_MIDDLEWARE); a consumer whose middleware leaves it out records nothing at all.
This package imports none of its modules here: the middleware imports `figures`, and
`hooks` imports the middleware, so an eager import would be a cycle.
"""
