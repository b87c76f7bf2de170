// 3-D pooling built for scalar (body: pool/pool3d_body.inl).
#define CNNNATIVE_TABLE pool3d_kernels_scalar
#include "pool/pool3d_body.inl"
