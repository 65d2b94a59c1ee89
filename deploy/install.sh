#!/bin/sh
# Install spl with exactly one TensorFlow, the one named by $1, from the source in $2.
#
#   deploy/install.sh 'tensorflow[and-cuda]>=2.16' .     # a CUDA machine or GPU image
#
# `pip install spl` brings tensorflow-cpu on x86_64, and a CUDA TensorFlow installed beside it
# writes into the same site-packages/tensorflow: two distributions, one folder, whichever
# wrote last wins. So TensorFlow goes in first, then spl without its TensorFlow requirement,
# then spl's other requirements. (`pip check` will name the missing tensorflow-cpu; that is this.)
set -eu
tensorflow="${1:?usage: install.sh TENSORFLOW-REQUIREMENT [SOURCE]}"
source="${2:-.}"
requirements="$(mktemp)"
trap 'rm -f "$requirements"' EXIT

pip install --no-cache-dir "$tensorflow"
pip install --no-cache-dir --no-deps "$source"
python - > "$requirements" <<'PY'
from importlib.metadata import requires
print("\n".join(r for r in requires("spleeter-cli") or [] if not r.startswith("tensorflow") and "extra ==" not in r))
PY
pip install --no-cache-dir -r "$requirements"
