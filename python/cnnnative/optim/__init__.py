"""Optimizers with PyTorch's names, signatures and update rules (torch.optim): SGD, Adam,
AdamW, RMSprop, Adagrad; gradient clipping; learning-rate schedules.

Each parameter's update is one fused, vectorised core call (cnnnative.ops.*_step), in place;
Python only walks the parameter groups. One file per optimizer; optimizer.py holds what they
share (groups, zero_grad, state_dict / load_state_dict).
"""
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .clip import clip_grad_norm_
from .lr_scheduler import CosineAnnealingLR, LinearWarmupLR, LRScheduler, MultiStepLR, StepLR
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "clip_grad_norm_", "LRScheduler",
           "StepLR", "MultiStepLR", "CosineAnnealingLR", "LinearWarmupLR"]
