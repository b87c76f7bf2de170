// Resampling row kernels built for avx512 (body: resample/resample_body.inl).
#define CNNNATIVE_TABLE resample_kernels_avx512
#include "resample/resample_body.inl"
