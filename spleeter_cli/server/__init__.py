"""`spl serve`: the HTTP jobs service, the third face of the core (after the CLI and the Python API).

Uploads become jobs (``jobs.py``, SQLite under the data dir) run by one ``JobRunner``
(``runner.py``) through the same ``SeparationRun``, model pool and stem cache as `spl batch`;
``app.py`` is the FastAPI face over them and ``serve.py`` runs it on uvicorn. ``client.py``
is the other end, used by `spl separate --server`. Importing this package imports neither
FastAPI nor uvicorn: only ``app.py`` and ``serve.py`` do, and only `spl serve` imports them.
"""
