// Elementwise activations built for avx2 (body: act/elementwise_body.inl).
#define CNNNATIVE_TABLE elementwise_kernels_avx2
#include "act/elementwise_body.inl"
