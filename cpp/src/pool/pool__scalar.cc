// Pooling built for scalar (body: pool/pool_body.inl).
#define CNNNATIVE_TABLE pool_kernels_scalar
#include "pool/pool_body.inl"
