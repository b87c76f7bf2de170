// Skinny GEMM kernels built for AVX2 (body: gemm/skinny_body.inl).
#define CNNNATIVE_SKINNY_NAME skinny__avx2
#include "gemm/skinny_body.inl"
