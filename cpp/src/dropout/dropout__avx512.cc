// Dropout built for avx512 (body: dropout/dropout_body.inl).
#define CNNNATIVE_TABLE dropout_kernels_avx512
#include "dropout/dropout_body.inl"
