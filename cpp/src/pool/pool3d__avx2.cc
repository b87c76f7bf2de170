// 3-D pooling built for avx2 (body: pool/pool3d_body.inl).
#define CNNNATIVE_TABLE pool3d_kernels_avx2
#include "pool/pool3d_body.inl"
