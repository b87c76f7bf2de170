// 3-D pooling built for avx512 (body: pool/pool3d_body.inl).
#define CNNNATIVE_TABLE pool3d_kernels_avx512
#include "pool/pool3d_body.inl"
