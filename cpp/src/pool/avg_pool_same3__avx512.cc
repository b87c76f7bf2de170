// Separable 3x3 average pooling built for avx512 (body: pool/avg_pool_same3_body.inl).
#define CNNNATIVE_TABLE avg_same3_avx512
#include "pool/avg_pool_same3_body.inl"
