// softmax / log_softmax built for avx512 (body: act/softmax_body.inl).
#define CNNNATIVE_TABLE softmax_kernels_avx512
#include "act/softmax_body.inl"
