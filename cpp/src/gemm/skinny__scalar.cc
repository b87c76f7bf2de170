// Skinny GEMM kernels, portable build (body: gemm/skinny_body.inl).
#define CNNNATIVE_SKINNY_NAME skinny__scalar
#include "gemm/skinny_body.inl"
