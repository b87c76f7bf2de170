// Cross-entropy built for avx2 (body: loss/cross_entropy_body.inl).
#define CNNNATIVE_TABLE cross_entropy_kernels_avx2
#include "loss/cross_entropy_body.inl"
