// Optimizer kernels built for avx512 (body: optim/optim_body.inl).
#define CNNNATIVE_TABLE optim_kernels_avx512
#include "optim/optim_body.inl"
