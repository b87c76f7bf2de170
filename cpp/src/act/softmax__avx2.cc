// softmax / log_softmax built for avx2 (body: act/softmax_body.inl).
#define CNNNATIVE_TABLE softmax_kernels_avx2
#include "act/softmax_body.inl"
