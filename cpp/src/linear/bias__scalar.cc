// linear's bias kernels built for scalar (body: linear/bias_body.inl).
#define CNNNATIVE_TABLE bias_kernels_scalar
#include "linear/bias_body.inl"
