// Dropout built for avx2 (body: dropout/dropout_body.inl).
#define CNNNATIVE_TABLE dropout_kernels_avx2
#include "dropout/dropout_body.inl"
