// Elementwise losses built for scalar (body: loss/pointwise_body.inl).
#define CNNNATIVE_TABLE pointwise_loss_kernels_scalar
#include "loss/pointwise_body.inl"
