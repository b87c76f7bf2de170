// See check.h.
#include "check.h"

#include <cstdlib>
#include <cstring>
#include <string>

namespace cnnnative {
namespace cuda {

namespace {
bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}
}  // namespace

void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line) {
  std::string msg = std::string("CUDA error ") + cudaGetErrorName(err) + " (" +
                    cudaGetErrorString(err) + ") in " + what + " at " + file + ":" +
                    std::to_string(line);
  if (err == cudaErrorMemoryAllocation) throw std::bad_alloc();  // MemoryError in Python
  throw std::runtime_error(msg);
}

void check_launch(const char* kernel_name) {
  // Read once; constant afterwards, so concurrent callers see the same value.
  static const bool sync_each = env_flag("CNNNATIVE_CUDA_SYNC");
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess && sync_each) err = cudaDeviceSynchronize();
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string("CUDA kernel ") + kernel_name + " failed: " +
                             cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
  }
}

bool poison_outputs() {
  static const bool poison = env_flag("CNNNATIVE_CUDA_POISON");
  return poison;
}

}  // namespace cuda
}  // namespace cnnnative
