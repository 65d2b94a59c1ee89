"""Scale-out on Dask: `spl batch --scheduler` and ``SpleeterCluster`` run one task per input.

address.py parses ``--scheduler`` (no Dask import), connection.py opens or starts the
cluster, worker.py is what runs on a worker, wire.py carries results across the process
boundary, run.py streams them back into the same listener and result list a local batch
produces. Dask is imported only on these paths, never by `spl --help` or a local run.
"""
