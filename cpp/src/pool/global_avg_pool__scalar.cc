// Global average pooling built for scalar (body: pool/global_avg_pool_body.inl).
#define CNNNATIVE_TABLE global_avg_pool_scalar
#include "pool/global_avg_pool_body.inl"
