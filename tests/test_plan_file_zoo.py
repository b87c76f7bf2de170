"""The plan of a zoo model, loaded by the C++ loader, gives exactly the Python compiled
model's output (the same kernels are chosen on the same CPU).

Seven families run by default at small inputs (about 10 s); every builder in
cnnnative.models runs with CNNNATIVE_PLAN_ZOO=1 -- minutes, as the VGGs and ResNeXt-101 hold
100M+ parameters even with 5 classes (21 min niced on the shared 2-core machine, all 50
passing). Builders with host nodes (LeNet-5's tanh, ZFNet's local response norm) must be
refused, naming the layer."""
import os

import numpy as np
import pytest

import cnnnative as cn
from cnnnative import models, nn

DEFAULT = ["resnet18", "mobilenet_v2", "squeezenet1_1", "densenet121", "shufflenet_v2_x0_5", "efficientnet_b0",
           "googlenet"]
ALL = os.environ.get("CNNNATIVE_PLAN_ZOO") == "1"


def _case(name):
    """(model, input shape) at the smallest input the builder takes (32 at least), batch 2;
    the same arguments as test_compile_all's builder cases."""
    from test_compile_all import _builder_kwargs, _input_shape
    import inspect
    kwargs = _builder_kwargs(name)
    shape = _input_shape(name, kwargs)
    takes = inspect.signature(models.MODELS[name]).parameters
    kwargs = {k: v for k, v in kwargs.items() if k != "input_size" or "input_size" in takes}
    nn.init.manual_seed(0)
    return models.build(name, **kwargs).eval(), shape


def _check(name):
    from test_compile_all import HOSTED_BUILDERS
    model, shape = _case(name)
    if name in HOSTED_BUILDERS:
        with pytest.raises(ValueError, match="run on the Python host"):
            cn.export_plan(model, None, shape)
        return
    compiled = cn.compile(model, shape, exportable=True)
    data = cn.export_plan(compiled)
    loaded = cn.load_plan(data)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    y = compiled(x)
    np.testing.assert_array_equal(loaded(x), y)
    assert [n.get("method") for n in loaded.nodes] == [n.get("method") for n in compiled.nodes]


@pytest.mark.parametrize("name", DEFAULT)
def test_zoo_plan_equals_compiled(name):
    _check(name)


@pytest.mark.skipif(not ALL, reason="every zoo builder: set CNNNATIVE_PLAN_ZOO=1")
@pytest.mark.parametrize("name", sorted(set(models.MODELS) - set(DEFAULT)))
def test_every_zoo_plan_equals_compiled(name):
    _check(name)
