"""`python -m spleeter_cli.server ARGS` is `spl serve ARGS`: the entry point the original design named.

The server package sits below the CLI and never imports it; this entry point replaces the process
with the `spl` program instead (same process id, so a service manager's signals still reach it).
"""

import os
import sys

os.execv(sys.executable, [sys.executable, "-m", "spleeter_cli", "serve", *sys.argv[1:]])
