#!/usr/bin/env bash
# Run the CUDA tests under compute-sanitizer (needs a GPU machine and a build with _cuda,
# importable: pip install . or tools/dev-build and PYTHONPATH=python).
# Each tool checks a different class of bug: memcheck (out-of-bounds and misaligned
# accesses, leaks), racecheck (shared-memory races), initcheck (reads of uninitialised
# device memory), synccheck (illegal __syncthreads use). Expect it to be slow (minutes).
#
#   benchmarks/cuda_sanitize.sh                 # all four tools on tests/test_cuda_ops.py
#   benchmarks/cuda_sanitize.sh memcheck -k conv # one tool, a subset of tests
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
sanitizer=${COMPUTE_SANITIZER:-$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)}
if [ ! -x "$sanitizer" ]; then
  echo "compute-sanitizer not found (set COMPUTE_SANITIZER)" >&2
  exit 2
fi
python3 -c "import cnnnative.cuda as c, sys; r = c.why_unavailable(); print(r or 'GPU ok'); sys.exit(1 if r else 0)" \
  || { echo "no usable GPU: nothing to sanitize" >&2; exit 2; }

tools=(memcheck racecheck initcheck synccheck)
if [ $# -gt 0 ] && [[ " ${tools[*]} " == *" $1 "* ]]; then
  tools=("$1")
  shift
fi
export CNNNATIVE_CUDA_SYNC=1  # attribute each error to its kernel
status=0
for tool in "${tools[@]}"; do
  echo "=== compute-sanitizer --tool $tool"
  # No --leak-check: the caching allocator keeps freed blocks until exit by design.
  if ! "$sanitizer" --tool "$tool" --error-exitcode 99 --print-limit 20 \
      python3 -m pytest -q -x -p no:cacheprovider tests/test_cuda_ops.py "$@"; then
    echo "=== $tool reported errors" >&2
    status=1
  fi
done
exit $status
