// Cross-channel pooling built for avx2 (body: pool/channel_pool_body.inl).
#define CNNNATIVE_TABLE channel_pool_kernels_avx2
#include "pool/channel_pool_body.inl"
