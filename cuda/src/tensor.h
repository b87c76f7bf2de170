// The device tensor behind cnnnative.cuda.Tensor: a contiguous (C-order) array in device
// memory with a shape and a dtype. Memory is shared (reshape makes views) and owned by a
// Storage, which gives it back to the caching allocator, or, for memory imported through
// DLPack or __cuda_array_interface__, tells the exporter it is no longer used.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace cnnnative {
namespace cuda {

enum class DType { float32, int32, int64, uint8 };

size_t dtype_size(DType d);
const char* dtype_name(DType d);
DType dtype_from_name(const std::string& name);  // ValueError for unsupported names

struct Storage {
  void* ptr = nullptr;
  int device = 0;
  std::function<void()> release;  // run once when the last tensor using it goes
  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (release) release();
  }
};

struct Tensor {
  std::shared_ptr<Storage> storage;
  void* data = nullptr;  // first element (inside storage)
  std::vector<int64_t> shape;
  DType dtype = DType::float32;
  int device = 0;

  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  int64_t ndim() const { return static_cast<int64_t>(shape.size()); }
  template <typename T>
  T* ptr() const { return static_cast<T*>(data); }
  std::string shape_string() const;
};

// A new tensor from the caching allocator (contents undefined; NaN-filled when
// CNNNATIVE_CUDA_POISON=1). Sizes checked: negative or overflowing shapes are errors.
Tensor empty_tensor(const std::vector<int64_t>& shape, DType dtype, int device);

// Sets the current device for a scope and restores it.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool changed_ = false;
};

}  // namespace cuda
}  // namespace cnnnative
