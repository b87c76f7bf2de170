// Elementwise activations built for avx512 (body: act/elementwise_body.inl).
#define CNNNATIVE_TABLE elementwise_kernels_avx512
#include "act/elementwise_body.inl"
