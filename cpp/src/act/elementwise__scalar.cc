// Elementwise activations built for scalar (body: act/elementwise_body.inl).
#define CNNNATIVE_TABLE elementwise_kernels_scalar
#include "act/elementwise_body.inl"
