// Global average pooling built for avx512 (body: pool/global_avg_pool_body.inl).
#define CNNNATIVE_TABLE global_avg_pool_avx512
#include "pool/global_avg_pool_body.inl"
