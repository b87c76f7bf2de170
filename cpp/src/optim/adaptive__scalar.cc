// Adaptive optimizer kernels built for scalar (body: optim/adaptive_body.inl).
#define CNNNATIVE_TABLE adaptive_kernels_scalar
#include "optim/adaptive_body.inl"
