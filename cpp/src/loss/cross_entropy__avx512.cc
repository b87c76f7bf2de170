// Cross-entropy built for avx512 (body: loss/cross_entropy_body.inl).
#define CNNNATIVE_TABLE cross_entropy_kernels_avx512
#include "loss/cross_entropy_body.inl"
