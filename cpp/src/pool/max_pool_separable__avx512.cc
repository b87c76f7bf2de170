// Separable max pooling built for avx512 (body: pool/max_pool_separable_body.inl).
#define CNNNATIVE_TABLE max_pool_separable_avx512
#include "pool/max_pool_separable_body.inl"
