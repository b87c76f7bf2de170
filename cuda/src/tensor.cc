// See tensor.h.
#include "tensor.h"

#include <cuda_runtime_api.h>

#include "allocator.h"
#include "check.h"
#include "cnnnative/errors.h"

namespace cnnnative {
namespace cuda {

size_t dtype_size(DType d) {
  switch (d) {
    case DType::float32: return 4;
    case DType::int32: return 4;
    case DType::int64: return 8;
    case DType::uint8: return 1;
  }
  return 1;
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::float32: return "float32";
    case DType::int32: return "int32";
    case DType::int64: return "int64";
    case DType::uint8: return "uint8";
  }
  return "?";
}

DType dtype_from_name(const std::string& name) {
  if (name == "float32") return DType::float32;
  if (name == "int32") return DType::int32;
  if (name == "int64") return DType::int64;
  if (name == "uint8") return DType::uint8;
  throw std::invalid_argument("cnnnative.cuda tensors hold float32, int32, int64 or uint8, not " + name);
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // checked when the tensor was made
  return n;
}

std::string Tensor::shape_string() const {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

Tensor empty_tensor(const std::vector<int64_t>& shape, DType dtype, int device) {
  int64_t n = 1;
  for (int64_t d : shape) {
    CN_CHECK(d >= 0, "tensor shape must not be negative, got dimension ", d);
    n = checked_mul(n, d, "tensor size");
  }
  const int64_t bytes = checked_mul(n, static_cast<int64_t>(dtype_size(dtype)), "tensor bytes");
  Tensor t;
  t.shape = shape;
  t.dtype = dtype;
  t.device = device;
  auto storage = std::make_shared<Storage>();
  const DeviceBlock block = device_alloc(static_cast<size_t>(bytes), device);
  storage->ptr = block.ptr;
  storage->device = device;
  storage->release = [block]() { device_free(block); };
  t.storage = storage;
  t.data = block.ptr;
  if (poison_outputs() && bytes > 0) {
    DeviceGuard guard(device);
    CNC_CUDA_CHECK(cudaMemsetAsync(block.ptr, 0xFF, static_cast<size_t>(bytes)));  // float NaN pattern
  }
  return t;
}

DeviceGuard::DeviceGuard(int device) {
  CNC_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device) {
    CNC_CUDA_CHECK(cudaSetDevice(device));
    changed_ = true;
  }
}

DeviceGuard::~DeviceGuard() {
  if (changed_) cudaSetDevice(previous_);
}

}  // namespace cuda
}  // namespace cnnnative
