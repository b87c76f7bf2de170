// Separable max pooling built for avx2 (body: pool/max_pool_separable_body.inl).
#define CNNNATIVE_TABLE max_pool_separable_avx2
#include "pool/max_pool_separable_body.inl"
