"""Import TensorFlow without its start-up chatter on the user's terminal.

TensorFlow's C++ side prints oneDNN and CPU-feature notices at import, before
TF_CPP_MIN_LOG_LEVEL takes effect. Every module that needs TensorFlow (the U-Nets, the
checkpoint reader of `spl models import|verify`) imports it through here first.
"""

from __future__ import annotations

import os
import sys
import threading

# What TensorFlow's C++ side prints at import, before TF_CPP_MIN_LOG_LEVEL applies.
_TF_NOISE = (b"before absl::InitializeLog()", b"oneDNN custom operations", b"cpu_feature_guard", b"rebuild TensorFlow with")


def import_quietly() -> None:
    """Import TensorFlow (and Keras) with its start-up chatter filtered out of stderr; once per process.

    The import runs while other threads work (and may report errors), so stderr is
    not silenced: it is passed through a pipe that drops only TensorFlow's lines.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if not any(noise in line for noise in _TF_NOISE):
                    os.write(saved, line)

    forwarder = threading.Thread(target=forward, name="spl-stderr", daemon=True)
    forwarder.start()
    try:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the forwarder sees EOF
        forwarder.join(timeout=5)
        os.close(saved)
