// Cross-channel pooling built for scalar (body: pool/channel_pool_body.inl).
#define CNNNATIVE_TABLE channel_pool_kernels_scalar
#include "pool/channel_pool_body.inl"
