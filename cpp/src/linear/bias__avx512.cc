// linear's bias kernels built for avx512 (body: linear/bias_body.inl).
#define CNNNATIVE_TABLE bias_kernels_avx512
#include "linear/bias_body.inl"
