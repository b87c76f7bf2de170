// Optimizer kernels built for avx2 (body: optim/optim_body.inl).
#define CNNNATIVE_TABLE optim_kernels_avx2
#include "optim/optim_body.inl"
