// Elementwise losses built for avx512 (body: loss/pointwise_body.inl).
#define CNNNATIVE_TABLE pointwise_loss_kernels_avx512
#include "loss/pointwise_body.inl"
