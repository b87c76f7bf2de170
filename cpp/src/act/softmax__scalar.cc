// softmax / log_softmax built for scalar (body: act/softmax_body.inl).
#define CNNNATIVE_TABLE softmax_kernels_scalar
#include "act/softmax_body.inl"
