// Cross-channel pooling built for avx512 (body: pool/channel_pool_body.inl).
#define CNNNATIVE_TABLE channel_pool_kernels_avx512
#include "pool/channel_pool_body.inl"
