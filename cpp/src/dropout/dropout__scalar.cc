// Dropout built for scalar (body: dropout/dropout_body.inl).
#define CNNNATIVE_TABLE dropout_kernels_scalar
#include "dropout/dropout_body.inl"
