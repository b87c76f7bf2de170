"""Transfer-learning scenario 1, two ways: the head trained on cached features
(cnnnative.finetune.extract_features: the frozen backbone runs once, compiled) versus the
head trained on the full model with the backbone frozen (its forward runs every epoch),
and, for scale, fine-tuning everything. Generated images; times are wall-clock seconds.

    python benchmarks/bench_finetune.py                          # resnet18, 512 images 3x32x32
    python benchmarks/bench_finetune.py --model vgg_small --size 32 --epochs 5 --threads 1
"""
from __future__ import annotations

import argparse
import inspect
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import cnnnative as cn  # noqa: E402
from cnnnative import finetune, models, optim  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        cn.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.random((args.images, 3, args.size, args.size), dtype=np.float32)
    y = rng.integers(0, 10, args.images)
    kw = {"input_size": args.size} if "input_size" in inspect.signature(models.MODELS[args.model]).parameters else {}
    pretrained = models.build(args.model, num_classes=100, **kw).state_dict()

    def build():
        return models.build(args.model, weights=pretrained, num_classes=10, **kw)

    def fit(net, params, data):
        t = time.perf_counter()
        cn.Trainer(net, optim.SGD(params, lr=0.01, momentum=0.9), quiet=True).fit(
            data, epochs=args.epochs, batch_size=args.batch_size)
        return (time.perf_counter() - t) / args.epochs

    model = build()
    cache = finetune.extract_features(model, (x, y), batch_size=args.batch_size)
    per_epoch_cached = fit(cache.head, list(cache.head.parameters()), cache)
    frozen = finetune.freeze(build())
    per_epoch_frozen = fit(frozen, [p for p in frozen.parameters() if p.requires_grad], (x, y))
    full = build()
    per_epoch_full = fit(full, list(full.parameters()), (x, y))
    print(f"{args.model}, {args.images} images 3x{args.size}x{args.size}, batch {args.batch_size}, "
          f"{cn.get_num_threads()} threads")
    print(f"  feature cache: extraction {cache.seconds:.3f} s once ({'compiled' if cache.compiled else 'eager'}), "
          f"head {per_epoch_cached:.4f} s/epoch")
    print(f"  frozen backbone, full model: {per_epoch_frozen:.3f} s/epoch")
    print(f"  fine-tune everything: {per_epoch_full:.3f} s/epoch")
    for e in (1, 10):
        print(f"  {e} epoch(s): cache {cache.seconds + e * per_epoch_cached:.2f} s vs frozen "
              f"{e * per_epoch_frozen:.2f} s")


if __name__ == "__main__":
    main()
