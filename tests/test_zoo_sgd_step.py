"""One SGD step of a representative of each zoo family against torchvision's, committed by
tools/zoo_step_reference.py (no torchvision needed here): same seeded weights, same batch,
train mode; see tests/zoo_step.py for what is compared.

The reference is torchvision's step computed in float64, and beside it the errors of
torchvision's own float32 step against it. Ours must be as close as torch's float32 is,
within a factor of 4 (different summation orders, Winograd's rounding), or within float32's
floors: loss 1e-5 relative, update errors' median 1e-4 and 90th percentile 1e-3. Deep nets
with BatchNorm in training mode amplify rounding (a ReLU input that rounds to the other
side of zero moves a whole channel), which is why torch's own float32 error is the yardstick.
"""
import json
import os

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import models, ops, optim
from zoo_mobile_common import seeded_input, seeded_state
from zoo_step import LR, labels, step_errors, update_summary

DATA = os.path.join(os.path.dirname(__file__), "data", "zoo_step_reference.json")
with open(DATA) as f:
    REFERENCE = json.load(f)
FLOORS = {"loss": 1e-5, "median": 1e-4, "q90": 1e-3}
# Found by this test and not yet explained: on these nets our parameter updates are 1e-3 off
# torchvision's float64 step (median), about 100x torch float32's own error, on every ISA
# (scalar too), growing from the middle of the net towards the input (MobileNet-v2: from
# block 12's depthwise + BN backward). Forward and loss agree within float32 rounding, and each
# layer alone (conv, depthwise, BN at small or offset batches, ReLU6) matches torch's float32
# precision. Strict: when the cause is fixed, these pass and the marks must go.
UNEXPLAINED = {"inception_v3", "mnasnet0_5", "mobilenet_v2", "regnet_y_400mf", "resnet18"}


@pytest.mark.parametrize("label", [pytest.param(name, marks=pytest.mark.xfail(
    strict=True, reason="update 100x less precise than torch float32's; cause not found yet"))
    if name in UNEXPLAINED else name for name in sorted(REFERENCE)])
def test_one_sgd_step_is_as_close_as_torch_float32(label):
    ref = REFERENCE[label]
    model = models.build(ref["builder"], **ref["kwargs"])
    start = seeded_state([(k, v.shape) for k, v in model.state_dict().items()], seed=0)
    model.load_state_dict(start)
    for m in model.modules():
        if type(m).__name__ in ("Dropout", "StochasticDepth"):
            m.p = 0.0
    model.train()
    shape = tuple(ref["input_shape"])
    opt = optim.SGD(model.parameters(), lr=LR)
    opt.zero_grad()
    out = model(cn.tensor(seeded_input(shape, seed=1)))
    loss = ops.cross_entropy(out[0] if isinstance(out, tuple) else out, labels(shape[0], ref["kwargs"]["num_classes"]))
    loss.backward()
    opt.step()
    value = float(np.asarray(loss.data if hasattr(loss, "data") else loss))
    ours = step_errors(value, update_summary(start, model.state_dict(), ref["update"].keys()), ref["loss"],
                       ref["update"])
    torch32 = ref["torch_float32_errors"]
    for what, floor in FLOORS.items():
        assert ours[what] <= max(4 * torch32[what], floor), (what, ours, torch32)
