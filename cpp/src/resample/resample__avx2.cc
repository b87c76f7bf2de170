// Resampling row kernels built for avx2 (body: resample/resample_body.inl).
#define CNNNATIVE_TABLE resample_kernels_avx2
#include "resample/resample_body.inl"
