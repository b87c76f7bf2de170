// Adaptive optimizer kernels built for avx512 (body: optim/adaptive_body.inl).
#define CNNNATIVE_TABLE adaptive_kernels_avx512
#include "optim/adaptive_body.inl"
