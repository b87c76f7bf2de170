// Elementwise losses built for avx2 (body: loss/pointwise_body.inl).
#define CNNNATIVE_TABLE pointwise_loss_kernels_avx2
#include "loss/pointwise_body.inl"
