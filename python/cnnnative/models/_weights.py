"""The `weights=` argument every zoo builder takes: a path to a state_dict file (see
cnnnative.state_dict_file) or a mapping of arrays, loaded strictly into the new model."""
from __future__ import annotations


def load_weights(model, weights):
    """`model` with `weights` (None: keep the initialisation; a path or a mapping of
    name -> array) loaded with strict=True. Returns the model."""
    if weights is None:
        return model
    if isinstance(weights, dict):
        state = weights
    else:
        from ..state_dict_file import load_state_dict_file
        state = load_state_dict_file(weights)
    model.load_state_dict(state, strict=True)
    return model


def random_init_unless(weights):
    """A context for building a model: with weights given (they overwrite every parameter)
    the random initialisers fill zeros instead of drawing numbers (nn.init.skip_random_init;
    VGG's classifier alone is 120M draws); without, random initialisation as usual."""
    import contextlib

    from ..nn.init import skip_random_init
    return skip_random_init() if weights is not None else contextlib.nullcontext()
