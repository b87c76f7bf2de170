// Resampling row kernels built for scalar (body: resample/resample_body.inl).
#define CNNNATIVE_TABLE resample_kernels_scalar
#include "resample/resample_body.inl"
