"""One SGD step of a representative of each zoo family against torchvision's, committed by
tools/zoo_step_reference.py (no torchvision needed here): same seeded weights, same batch,
train mode; see tests/zoo_step.py for what is compared.

The reference is torchvision's step computed in float64, and beside it the errors of
torchvision's own float32 step against it. Any float32 step differs from float64 by more
than rounding where a ReLU's input lies within rounding distance of zero: the mask flips and
every tensor upstream of it moves by ~1e-3 of its update (MobileNet-v2 here: one ReLU6 input
4.7e-6 from zero in block 12, our forward 5e-6 off float64 there; blocks 0-12 and 2-13 alone
match torch float32's error, 0-13 does not). Which implementation flips where is luck, so
ours is held to 10x torch float32's error or to floors that one flip stays under: the loss
1e-4 relative, the update errors' median 5e-3 and 90th percentile 2e-2. A wrong gradient
is off by O(1).
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
FLOORS = {"loss": 1e-4, "median": 5e-3, "q90": 2e-2}


# Inception-v3 (94 BatchNorms in training mode at 75x75) amplifies the rounding of the
# Winograd 3x3 convolutions to a loss 4-9e-4 off float64 on some ISAs (torch float32: 4e-5);
# with Winograd off it meets the bounds. Measured, documented, and checked here that way.
WITHOUT_WINOGRAD = {"inception_v3"}


@pytest.fixture
def fast_algorithms_restored():
    before = cn.get_fast_algorithms()
    yield
    cn.set_fast_algorithms(**before)


@pytest.mark.parametrize("label", sorted(REFERENCE))
def test_one_sgd_step_matches_torchvisions(label, fast_algorithms_restored):
    ref = REFERENCE[label]
    if label in WITHOUT_WINOGRAD:
        cn.set_fast_algorithms(winograd=False)
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
        assert ours[what] <= max(10 * torch32[what], floor), (what, ours, torch32)
