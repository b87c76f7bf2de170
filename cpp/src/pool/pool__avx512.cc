// Pooling built for avx512 (body: pool/pool_body.inl).
#define CNNNATIVE_TABLE pool_kernels_avx512
#include "pool/pool_body.inl"
