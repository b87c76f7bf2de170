// Pooling built for avx2 (body: pool/pool_body.inl).
#define CNNNATIVE_TABLE pool_kernels_avx2
#include "pool/pool_body.inl"
