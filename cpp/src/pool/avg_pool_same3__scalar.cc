// Separable 3x3 average pooling built for scalar (body: pool/avg_pool_same3_body.inl).
#define CNNNATIVE_TABLE avg_same3_scalar
#include "pool/avg_pool_same3_body.inl"
