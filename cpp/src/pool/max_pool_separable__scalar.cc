// Separable max pooling built for scalar (body: pool/max_pool_separable_body.inl).
#define CNNNATIVE_TABLE max_pool_separable_scalar
#include "pool/max_pool_separable_body.inl"
