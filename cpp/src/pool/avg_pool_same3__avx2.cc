// Separable 3x3 average pooling built for avx2 (body: pool/avg_pool_same3_body.inl).
#define CNNNATIVE_TABLE avg_same3_avx2
#include "pool/avg_pool_same3_body.inl"
