#!/usr/bin/env bash
# Runs every side-by-side benchmark (cnnnative beside PyTorch CPU / ONNX Runtime in the same
# process) and writes benchmarks/RESULTS.md. Needs the `bench` extra: pip install ".[bench]".
# Usage: benchmarks/run_all.sh [threads]   (run on a quiet machine; takes ~10 minutes)
set -uo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
out=benchmarks/RESULTS.md
tmp=$(mktemp)
py=${PYTHON:-python}

section() {  # section "title" command...
  local title=$1; shift
  echo "running: $*" >&2
  {
    echo
    echo "## $title"
    echo
    echo "Command: \`$*\`"
    echo
    "$@" 2>&1 | grep -v -E '^(running|warming)' || echo "(failed: exit $?)"
  } >> "$tmp"
}

{
  echo "# Benchmark results"
  echo
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; "\
       "threads $threads; $(date -u +%Y-%m-%d) UTC; cnnnative $($py -c 'import cnnnative; print(cnnnative.__version__, cnnnative.get_isa())');"\
       " torch $($py -c 'import torch; print(torch.__version__)' 2>/dev/null || echo absent);"\
       " onnxruntime $($py -c 'import onnxruntime; print(onnxruntime.__version__)' 2>/dev/null || echo absent)."
  echo
  echo "Medians of repeated runs after warm-up; ratios are other-framework time / cnnnative time"
  echo "(above 1: cnnnative faster), each from one run in one process. Effective GFLOP/s count"
  echo "direct-convolution FLOPs (2·N·K·C/g·R·S·OH·OW) whatever the algorithm does."
} > "$tmp"

section "SGEMM and FMA peak" $py benchmarks/bench_gemm.py --threads 1,$threads --markdown
section "Convolution: every algorithm vs PyTorch" $py benchmarks/bench_conv_algos.py --threads $threads --markdown
section "Convolution forward and backward (auto) vs PyTorch" $py benchmarks/bench_conv.py --threads $threads --markdown
# The AVX2 path (laptops and edge boxes without AVX-512), on this CPU: cnnnative forced to
# its AVX2 kernels, oneDNN and ATen capped at AVX2 as well.
section "Convolution on the AVX2 path vs PyTorch capped at AVX2" env CNNNATIVE_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 $py benchmarks/bench_conv.py --threads $threads --markdown
section "Training step (Trainer.step, seed_mnist_net, batch 64)" $py benchmarks/bench_train.py --threads $threads
section "Autograd: recording overhead per op" $py benchmarks/bench_autograd_overhead.py
[ -f benchmarks/bench_resnet18.py ] && section "ResNet-18 inference: compiled vs ONNX Runtime vs PyTorch" $py benchmarks/bench_resnet18.py --threads $threads --repeats 30 --markdown --frameworks cnnnative onnxruntime onnxruntime-nospin torch
section "Normalization vs PyTorch" $py benchmarks/bench_norm.py --threads $threads
section "Pooling, activations, losses, linear, SGD vs PyTorch" $py benchmarks/bench_ops.py --threads $threads
section "Pooling beyond 2-D (MaxPool3d, adaptive, maxout) vs PyTorch" $py benchmarks/bench_pool_more.py --threads $threads
section "Optimizer step (ResNet-18 parameters) vs torch.optim" $py benchmarks/bench_optim.py --threads $threads --markdown
section "LocallyConnected2d and TiledConv2d vs PyTorch unfold + einsum" $py benchmarks/bench_local_conv.py --threads $threads

chmod 644 "$tmp"; mv "$tmp" "$out"
echo "wrote $out" >&2
