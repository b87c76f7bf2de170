// Cross-entropy built for scalar (body: loss/cross_entropy_body.inl).
#define CNNNATIVE_TABLE cross_entropy_kernels_scalar
#include "loss/cross_entropy_body.inl"
