#!/bin/bash
# Builds the elementwise-kernel A/B harness: the kernel tables of two source trees (base and
# new; each per ISA, with the flags CMakeLists.txt gives those files) linked into one binary,
# so that both run interleaved in one process.
#
#   tools/act_ab/build.sh /path/to/base/checkout [/path/to/new/checkout] [outdir]
#   OUT/harness time [ops] [reps]      # ns/element in L1 (n = 2048), 1 thread CPU time
#   OUT/harness big [ops] [threads] [rounds]   # ms at 2^24 floats, with the copy/add reference
#   OUT/harness acc [ops] [stride]     # max error against float64 over every stride-th float
#   python3 tools/act_ab/loop_ops.py <(objdump -d --no-show-raw-insn -C OUT/new_avx512.o)
#                                      # vector operations in each kernel's main loop
set -e
here=$(cd "$(dirname "$0")" && pwd)
base=$(cd "$1" && pwd)/cpp
new=$(cd "${2:-$here/../..}" && pwd)/cpp
out=${3:-/tmp/act_ab}
mkdir -p "$out"
F512="-mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512cd -mavx2 -mfma -mf16c"
F2="-mavx2 -mfma -mf16c"
CX="g++ -O3 -std=c++17 -fopenmp-simd -fno-math-errno -fPIC -c"
for tree in base new; do
  src=$base; [ $tree = new ] && src=$new
  $CX -I$src/src -I$src/include -DTABLE_NAME=${tree}_avx512 $F512 "$here/table.cc" -o "$out/${tree}_avx512.o"
  $CX -I$src/src -I$src/include -DTABLE_NAME=${tree}_avx2 $F2 "$here/table.cc" -o "$out/${tree}_avx2.o"
  $CX -I$src/src -I$src/include -DTABLE_NAME=${tree}_scalar "$here/table.cc" -o "$out/${tree}_scalar.o"
done
g++ -O2 -std=c++17 -pthread -I$new/src -I$new/include "$here/harness.cc" "$out"/*_avx512.o "$out"/*_avx2.o \
  "$out"/*_scalar.o -o "$out/harness"
echo "$out/harness"
