// Optimizer kernels built for scalar (body: optim/optim_body.inl).
#define CNNNATIVE_TABLE optim_kernels_scalar
#include "optim/optim_body.inl"
