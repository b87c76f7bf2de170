"""The op registry: for each public op, the version that records its backward.

An op's plain function (numpy in, numpy out) and its recording version live side by side
in the op's own file (ops/conv.py, ops/pool.py, ...); `@grad_rule("conv2d")` files the
recording version here, and the dispatcher in ops/__init__.py calls it when an argument is
a Tensor that requires grad. See autograd.py for the recording helpers.
"""
RULES: dict = {}


def grad_rule(name: str):
    """Register `function` as the recording version of the op `name`."""
    def register(function):
        if name in RULES:
            raise RuntimeError(f"op {name!r} has two gradient rules ({RULES[name].__module__} and "
                               f"{function.__module__})")
        RULES[name] = function
        return function
    return register
