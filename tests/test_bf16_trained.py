"""bf16 inference of a TRAINED model (issue 16, item 5): the digits CNN trained briefly, its
test split run by compile(precision="bf16") against fp32: top-1 agreement and the max
relative logit error."""
import numpy as np

import cnnnative
from cnnnative import data, models, nn, optim


def test_trained_digits_net_bf16_agrees_with_fp32():
    nn.init.manual_seed(0)
    model = models.digits_net()
    opt = optim.SGD(model, lr=0.1, momentum=0.9, weight_decay=5e-4)
    cnnnative.Trainer(model, opt, scheduler=optim.CosineAnnealingLR(opt, T_max=3), seed=0, quiet=True,
                      log=None).fit(data.load_digits("train"), epochs=3)
    model.eval()
    test = data.load_digits("test")
    x = (np.asarray(test.images, np.float32) / 16.0).reshape(-1, 1, 8, 8)
    labels = np.asarray(test.labels)
    report = cnnnative.bf16_report(model, x)
    fp32 = cnnnative.compile(model, x.shape)(x)
    assert np.mean(fp32.argmax(1) == labels) >= 0.9  # it did learn (measured ~97%)
    # Measured: 100% agreement, max relative logit error ~4e-3.
    assert report.top1_agreement >= 0.99, str(report)
    assert report.max_rel_error < 2e-2, str(report)
    assert report.bf16_layers >= 2
    print(report)
    every = cnnnative.bf16_report(model, x, algo="gemm")  # the convs in bf16 too
    assert every.bf16_layers == 4 and every.fp32_layers == 0
    assert every.top1_agreement >= 0.99 and every.max_rel_error < 2e-2, str(every)
    print(every)
