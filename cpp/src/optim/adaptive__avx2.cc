// Adaptive optimizer kernels built for avx2 (body: optim/adaptive_body.inl).
#define CNNNATIVE_TABLE adaptive_kernels_avx2
#include "optim/adaptive_body.inl"
