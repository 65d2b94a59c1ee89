"""`python -m spleeter_cli.server ARGS` is `spl serve ARGS`: the entry point the original design named."""

import sys

from ..cli import main

sys.argv[1:1] = ["serve"]
main()
