"""Seed corpus for the plan loader fuzzer: small exported plans that together use every op
(tests/plan_file_nets.py), with each conv method choice, and int8 ones.

    PYTHONPATH=python python tools/plan_fuzz_corpus.py build/fuzz/corpus
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import cnnnative as cn  # noqa: E402
from plan_file_nets import NETS, build, quantized  # noqa: E402


def main(out):
    os.makedirs(out, exist_ok=True)
    for name in NETS:
        model, shape = build(name)
        for algo in ("auto", "gemm", "autotune"):
            compiled = cn.compile(model, (1, *shape[1:]), algo=algo, exportable=True)
            path = os.path.join(out, f"{name}_{algo}.cnn")
            cn.export_plan(compiled, path)
            print(path, os.path.getsize(path))
    for per_channel, fp32_layers in ((True, ()), (False, ("group",))):  # the int8 ops, dequantize in the second
        path = os.path.join(out, f"int8_{'channel' if per_channel else 'tensor'}.cnn")
        cn.export_plan(quantized(per_channel, fp32_layers)[0], path)
        print(path, os.path.getsize(path))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/fuzz/corpus")
