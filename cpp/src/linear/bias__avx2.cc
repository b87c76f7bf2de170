// linear's bias kernels built for avx2 (body: linear/bias_body.inl).
#define CNNNATIVE_TABLE bias_kernels_avx2
#include "linear/bias_body.inl"
