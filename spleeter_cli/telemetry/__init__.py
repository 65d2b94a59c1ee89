"""Run telemetry: the SQLite history of every run (``history``) and the live Prometheus
exporter with its alert thresholds (``metrics``).

Nothing here imports NumPy or TensorFlow, so `spl stats` answers at once; the
exporter's ``prometheus_client`` and ``psutil`` are imported only by runs that use them.
"""
