// Global average pooling built for avx2 (body: pool/global_avg_pool_body.inl).
#define CNNNATIVE_TABLE global_avg_pool_avx2
#include "pool/global_avg_pool_body.inl"
