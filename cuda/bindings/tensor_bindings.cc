// cnnnative._cuda.Tensor and the memory functions: upload/download, views, the caching
// allocator's controls, and zero-copy exchange with CuPy/PyTorch/Numba through DLPack
// (__dlpack__, __dlpack_device__, from_dlpack) and __cuda_array_interface__ (v3).
//
// Streams: every cnnnative kernel runs on the legacy default stream. Exported arrays say
// so ("stream": 1 in the interface; __dlpack__(stream=s) synchronises the default stream
// before handing out memory a consumer will use on stream s). Imported arrays whose
// producer names a stream are synchronised with it before use.
#include <cuda_runtime_api.h>
#include <pybind11/numpy.h>

#include <array>
#include <cstring>

#include "allocator.h"
#include "check.h"
#include "common.h"
#include "dlpack.h"

namespace cnnnative {
namespace cuda {

namespace {

const char* typestr(DType d) {
  switch (d) {
    case DType::float32: return "<f4";
    case DType::int32: return "<i4";
    case DType::int64: return "<i8";
    case DType::uint8: return "|u1";
  }
  return "";
}

DType dtype_from_numpy(const py::dtype& dt, const char* what) {
  if (dt.is(py::dtype::of<float>())) return DType::float32;
  if (dt.is(py::dtype::of<int32_t>())) return DType::int32;
  if (dt.is(py::dtype::of<int64_t>())) return DType::int64;
  if (dt.is(py::dtype::of<uint8_t>())) return DType::uint8;
  throw py::type_error(concat(what, ": unsupported dtype ", std::string(py::str(dt)),
                              " (float32, int32, int64 or uint8)"));
}

py::dtype numpy_dtype(DType d) {
  switch (d) {
    case DType::float32: return py::dtype::of<float>();
    case DType::int32: return py::dtype::of<int32_t>();
    case DType::int64: return py::dtype::of<int64_t>();
    case DType::uint8: return py::dtype::of<uint8_t>();
  }
  return py::dtype::of<float>();
}

std::vector<int64_t> shape_from(const py::iterable& shape, const char* what) {
  std::vector<int64_t> s;
  for (auto item : shape) {
    const int64_t d = py::cast<int64_t>(item);
    CN_CHECK(d >= 0, what, ": shape must not be negative, got ", d);
    s.push_back(d);
  }
  return s;
}

int current_device() {
  int d = 0;
  CNC_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

Tensor from_numpy(py::array array, int device) {
  const DType dtype = dtype_from_numpy(array.dtype(), "from_numpy");
  // C-contiguous copy when needed (non-contiguous, unaligned or byte-swapped input).
  py::array host = py::array::ensure(array, py::array::c_style | py::array::forcecast);
  if (!host) throw py::error_already_set();
  std::vector<int64_t> shape(host.shape(), host.shape() + host.ndim());
  DeviceGuard guard(device);
  Tensor t = empty_tensor(shape, dtype, device);
  const size_t bytes = t.nbytes();
  if (bytes > 0) {
    const void* src = host.data();
    py::gil_scoped_release release;
    CNC_CUDA_CHECK(cudaMemcpy(t.data, src, bytes, cudaMemcpyHostToDevice));
  }
  return t;
}

py::array to_numpy(const Tensor& t) {
  std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.end());
  py::array out(numpy_dtype(t.dtype), shape);
  const size_t bytes = t.nbytes();
  if (bytes > 0) {
    void* dst = out.mutable_data();
    DeviceGuard guard(t.device);
    py::gil_scoped_release release;
    CNC_CUDA_CHECK(cudaMemcpy(dst, t.data, bytes, cudaMemcpyDeviceToHost));
  }
  return out;
}

Tensor reshape(const Tensor& t, const std::vector<int64_t>& requested) {
  std::vector<int64_t> shape = requested;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      CN_CHECK(infer < 0, "reshape: only one dimension may be -1");
      infer = static_cast<int64_t>(i);
    } else {
      CN_CHECK(shape[i] >= 0, "reshape: negative dimension ", shape[i]);
      known = checked_mul(known, shape[i], "reshape");
    }
  }
  if (infer >= 0) {
    CN_CHECK(known > 0 && t.numel() % known == 0, "reshape: cannot reshape ", t.shape_string(), " with a -1");
    shape[infer] = t.numel() / known;
    known *= shape[infer];
  }
  CN_CHECK(known == t.numel(), "reshape: cannot view ", t.shape_string(), " (", t.numel(), " elements) as ",
           known, " elements");
  Tensor v = t;
  v.shape = shape;
  return v;
}

Tensor copy_of(const Tensor& t) {
  DeviceGuard guard(t.device);
  Tensor c = new_like(t);
  if (t.nbytes() > 0) CNC_CUDA_CHECK(cudaMemcpyAsync(c.data, t.data, t.nbytes(), cudaMemcpyDeviceToDevice));
  return c;
}

py::dict cuda_array_interface(const Tensor& t) {
  py::dict d;
  py::tuple shape(t.shape.size());
  for (size_t i = 0; i < t.shape.size(); ++i) shape[i] = py::int_(t.shape[i]);
  d["shape"] = shape;
  d["typestr"] = typestr(t.dtype);
  d["data"] = py::make_tuple(py::int_(reinterpret_cast<uintptr_t>(t.data)), false);
  d["version"] = 3;
  d["strides"] = py::none();
  d["stream"] = 1;  // the legacy default stream, where our kernels run
  return d;
}

// --- DLPack export -----------------------------------------------------------------------------

struct ExportContext {
  Tensor tensor;  // keeps the storage alive
  std::vector<int64_t> shape, strides;
  dlpack::ManagedTensor managed;
  // The consumer announced a stream other than the legacy default one (e.g. a PyTorch side
  // stream, which is non-blocking): its kernels may still read the memory when it calls
  // the deleter, and the caching allocator would hand the block to our next kernel at once.
  bool consumer_on_other_stream = false;
};

void delete_export(dlpack::ManagedTensor* self) {
  auto* ctx = static_cast<ExportContext*>(self->manager_ctx);
  if (ctx->consumer_on_other_stream && ctx->tensor.nbytes() > 0) {
    // We do not own (and may outlive) the consumer's stream: wait for the whole device
    // before the block can be reused. No exceptions here (called from C); errors are left
    // for the next checked call.
    int previous = 0;
    const bool switch_device = cudaGetDevice(&previous) == cudaSuccess && previous != ctx->tensor.device;
    if (switch_device) cudaSetDevice(ctx->tensor.device);
    cudaDeviceSynchronize();
    if (switch_device) cudaSetDevice(previous);
  }
  delete ctx;
}

void capsule_destructor(PyObject* capsule) {
  // Only a capsule nobody consumed still owns its tensor (consumers rename it to
  // "used_dltensor" and call the deleter themselves). This can run while an exception is
  // propagating (the capsule freed during unwinding): keep that exception intact rather
  // than clearing it.
  if (!PyCapsule_IsValid(capsule, "dltensor")) return;  // IsValid never sets an error
#if PY_VERSION_HEX >= 0x030C0000
  PyObject* pending = PyErr_GetRaisedException();
#else
  PyObject *type, *value, *traceback;
  PyErr_Fetch(&type, &value, &traceback);
#endif
  auto* managed = static_cast<dlpack::ManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
  if (managed && managed->deleter) managed->deleter(managed);
#if PY_VERSION_HEX >= 0x030C0000
  PyErr_SetRaisedException(pending);
#else
  PyErr_Restore(type, value, traceback);
#endif
}

dlpack::DataType dl_dtype(DType d) {
  switch (d) {
    case DType::float32: return {dlpack::kFloat, 32, 1};
    case DType::int32: return {dlpack::kInt, 32, 1};
    case DType::int64: return {dlpack::kInt, 64, 1};
    case DType::uint8: return {dlpack::kUInt, 8, 1};
  }
  return {dlpack::kFloat, 32, 1};
}

py::object to_dlpack(const Tensor& t, py::object stream, py::kwargs) {
  bool other_stream = false;
  if (!stream.is_none()) {
    const int64_t s = py::cast<int64_t>(stream);
    other_stream = s != -1 && s != 1;
    CN_CHECK(s != 0, "__dlpack__: stream 0 is disallowed for CUDA by the DLPack protocol");
    if (s != -1 && s != 1) {  // the consumer uses another stream: make our work visible to it
      DeviceGuard guard(t.device);
      py::gil_scoped_release release;
      CNC_CUDA_CHECK(cudaStreamSynchronize(nullptr));
    }
  }
  auto* ctx = new ExportContext;
  ctx->tensor = t;
  ctx->consumer_on_other_stream = other_stream;
  ctx->shape = t.shape;
  ctx->strides.resize(t.shape.size());
  int64_t stride = 1;
  for (size_t i = t.shape.size(); i-- > 0;) {
    ctx->strides[i] = stride;
    stride *= t.shape[i];
  }
  dlpack::Tensor& dl = ctx->managed.dl_tensor;
  dl.data = t.data;
  dl.device = {dlpack::kCUDA, t.device};
  dl.ndim = static_cast<int32_t>(t.shape.size());
  dl.dtype = dl_dtype(t.dtype);
  dl.shape = ctx->shape.data();
  dl.strides = ctx->strides.data();
  dl.byte_offset = 0;
  ctx->managed.manager_ctx = ctx;
  ctx->managed.deleter = delete_export;
  PyObject* capsule = PyCapsule_New(&ctx->managed, "dltensor", capsule_destructor);
  if (!capsule) {
    delete ctx;
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::object>(capsule);
}

// --- DLPack import -------------------------------------------------------------------------------

DType dtype_from_dl(const dlpack::DataType& d) {
  CN_CHECK(d.lanes == 1, "from_dlpack: vector dtypes (lanes = ", d.lanes, ") are not supported");
  if (d.code == dlpack::kFloat && d.bits == 32) return DType::float32;
  if (d.code == dlpack::kInt && d.bits == 32) return DType::int32;
  if (d.code == dlpack::kInt && d.bits == 64) return DType::int64;
  if (d.code == dlpack::kUInt && d.bits == 8) return DType::uint8;
  throw py::type_error(concat("from_dlpack: unsupported dtype (code ", int(d.code), ", bits ", int(d.bits),
                              "); float32, int32, int64 or uint8"));
}

Tensor from_dlpack_capsule(py::capsule capsule) {
  PyObject* obj = capsule.ptr();
  CN_CHECK(PyCapsule_IsValid(obj, "dltensor"),
           "from_dlpack: expected an unconsumed 'dltensor' capsule (a capsule can be used once)");
  auto* managed = static_cast<dlpack::ManagedTensor*>(PyCapsule_GetPointer(obj, "dltensor"));
  const dlpack::Tensor& dl = managed->dl_tensor;
  // Check everything before taking ownership, so a refused capsule still frees itself.
  CN_CHECK(dl.device.device_type == dlpack::kCUDA || dl.device.device_type == dlpack::kCUDAManaged,
           "from_dlpack: the array is not in CUDA device memory (DLPack device type ", dl.device.device_type,
           "); use from_numpy for host arrays");
  const DType dtype = dtype_from_dl(dl.dtype);
  CN_CHECK(dl.ndim >= 0, "from_dlpack: negative ndim");
  std::vector<int64_t> shape(dl.shape, dl.shape + dl.ndim);
  int64_t numel = 1;
  for (int64_t d : shape) {
    CN_CHECK(d >= 0, "from_dlpack: negative dimension ", d);
    numel = checked_mul(numel, d, "from_dlpack size");
  }
  if (dl.strides && numel > 1) {
    int64_t expect = 1;
    for (int32_t i = dl.ndim; i-- > 0;) {
      CN_CHECK(shape[i] == 1 || dl.strides[i] == expect,
               "from_dlpack: only C-contiguous arrays can be shared without a copy; call .contiguous() "
               "(or cupy.ascontiguousarray) first");
      expect *= shape[i];
    }
  }
  if (PyCapsule_SetName(obj, "used_dltensor") != 0) throw py::error_already_set();
  Tensor t;
  t.shape = shape;
  t.dtype = dtype;
  t.device = dl.device.device_id;
  t.data = static_cast<char*>(dl.data) + dl.byte_offset;
  auto storage = std::make_shared<Storage>();
  storage->ptr = t.data;
  storage->device = t.device;
  storage->release = [managed]() {
    if (managed->deleter) {
      // Producers' deleters may touch Python objects.
      py::gil_scoped_acquire gil;
      managed->deleter(managed);
    }
  };
  t.storage = storage;
  return t;
}

// Wraps memory described by __cuda_array_interface__; `owner` is kept alive.
Tensor from_pointer(uintptr_t ptr, const std::vector<int64_t>& shape, const std::string& dtype, py::object owner,
                    py::object stream) {
  const DType dt = dtype_from_name(dtype);
  int64_t numel = 1;
  for (int64_t d : shape) {
    CN_CHECK(d >= 0, "from_cuda_array_interface: negative dimension ", d);
    numel = checked_mul(numel, d, "array size");
  }
  int device = current_device();
  if (ptr != 0) {
    cudaPointerAttributes attr;
    CNC_CUDA_CHECK(cudaPointerGetAttributes(&attr, reinterpret_cast<void*>(ptr)));
    CN_CHECK(attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged,
             "from_cuda_array_interface: the pointer is not device memory");
    device = attr.device;
  }
  if (!stream.is_none()) {
    const uintptr_t s = py::cast<uintptr_t>(stream);
    CN_CHECK(s != 0, "__cuda_array_interface__: stream 0 is disallowed by the protocol");
    DeviceGuard guard(device);
    py::gil_scoped_release release;
    CNC_CUDA_CHECK(cudaStreamSynchronize(reinterpret_cast<cudaStream_t>(s == 1 ? 0 : s)));
  }
  Tensor t;
  t.shape = shape;
  t.dtype = dt;
  t.device = device;
  t.data = reinterpret_cast<void*>(ptr);
  auto storage = std::make_shared<Storage>();
  storage->ptr = t.data;
  storage->device = device;
  auto* held = new py::object(std::move(owner));
  storage->release = [held]() {
    py::gil_scoped_acquire gil;
    delete held;
  };
  t.storage = storage;
  return t;
}

// (outer, extent along axis, inner) of a shape.
std::array<int64_t, 3> axis_view(const Tensor& t, int64_t axis) {
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= t.shape[i];
  for (int64_t i = axis + 1; i < t.ndim(); ++i) inner *= t.shape[i];
  return {outer, t.shape[axis], inner};
}

int64_t normalize_axis(int64_t axis, int64_t ndim, const char* op) {
  CN_CHECK(axis >= -ndim && axis < ndim, op, ": axis ", axis, " out of range for ", ndim, " dimensions");
  return axis < 0 ? axis + ndim : axis;
}

// Device-to-device copy of `rows` rows of `width` bytes between pitched buffers. One plain
// copy when the rows are contiguous; cudaMemcpy2D refuses pitches above the device's
// maximum (cudaDevAttrMaxPitch, 2^31 - 1 in practice: a concat along axis 0 of tensors
// over 2 GiB), so such rows go one copy each (there are few of them, each > 2 GiB).
void copy_rows(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t rows) {
  if (width == 0 || rows == 0) return;
  if (rows == 1 || (dpitch == width && spitch == width)) {
    CNC_CUDA_CHECK(cudaMemcpyAsync(dst, src, width * rows, cudaMemcpyDeviceToDevice));
    return;
  }
  const size_t max_pitch = 2147483647u;
  if (dpitch <= max_pitch && spitch <= max_pitch) {
    CNC_CUDA_CHECK(cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, rows, cudaMemcpyDeviceToDevice));
    return;
  }
  for (size_t r = 0; r < rows; ++r)
    CNC_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch,
                                   width, cudaMemcpyDeviceToDevice));
}

// Concatenation along `axis`: one strided 2-D copy per input (rows = the outer extent).
Tensor concat_tensors(const std::vector<Tensor>& parts, int64_t axis) {
  CN_CHECK(!parts.empty(), "concat: no tensors");
  const Tensor& first = parts[0];
  axis = normalize_axis(axis, first.ndim(), "concat");
  std::vector<int64_t> shape = first.shape;
  shape[axis] = 0;
  for (const Tensor& t : parts) {
    CN_CHECK(t.dtype == first.dtype && t.device == first.device && t.ndim() == first.ndim(),
             "concat: tensors differ in dtype, device or rank");
    for (int64_t i = 0; i < t.ndim(); ++i)
      CN_CHECK(i == axis || t.shape[i] == first.shape[i], "concat: shape ", t.shape_string(), " does not match ",
               first.shape_string(), " outside axis ", axis);
    shape[axis] = checked_add(shape[axis], t.shape[axis], "concat size");
  }
  DeviceGuard guard(first.device);
  Tensor out = empty_tensor(shape, first.dtype, first.device);
  const size_t item = dtype_size(first.dtype);
  const auto [outer, total, inner] = axis_view(out, axis);
  int64_t offset = 0;
  for (const Tensor& t : parts) {
    const int64_t width = t.shape[axis] * inner;
    copy_rows(static_cast<char*>(out.data) + offset * inner * item, total * inner * item, t.data, width * item,
              width * item, outer);
    offset += t.shape[axis];
  }
  return out;
}

// A copy of [start, start + length) along `axis`.
Tensor narrow_tensor(const Tensor& t, int64_t axis, int64_t start, int64_t length) {
  axis = normalize_axis(axis, t.ndim(), "narrow");
  CN_CHECK(start >= 0 && length >= 0 && start <= t.shape[axis] - length, "narrow: [", start, ", ", start, " + ",
           length, ") is outside axis ", axis, " of shape ", t.shape_string());
  std::vector<int64_t> shape = t.shape;
  shape[axis] = length;
  DeviceGuard guard(t.device);
  Tensor out = empty_tensor(shape, t.dtype, t.device);
  const size_t item = dtype_size(t.dtype);
  const auto [outer, extent, inner] = axis_view(t, axis);
  copy_rows(out.data, length * inner * item, static_cast<const char*>(t.data) + start * inner * item,
            extent * inner * item, length * inner * item, outer);
  return out;
}

std::string why_unavailable() {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
  }
  if (count == 0) return "no CUDA device found";
  cudaDeviceProp prop;
  err = cudaGetDeviceProperties(&prop, 0);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string("cudaGetDeviceProperties failed: ") + cudaGetErrorString(err);
  }
  if (prop.major < 8)
    return concat("device 0 (", prop.name, ") has compute capability ", prop.major, ".", prop.minor,
                  "; this build needs 8.0 or newer");
  return "";
}

}  // namespace

void bind_tensor(py::module_& m) {
  py::class_<Tensor>(m, "Tensor", R"doc(A C-contiguous array in CUDA device memory.

Made by cnnnative.cuda.from_numpy / empty / zeros / from_dlpack, or returned by
cnnnative.cuda.ops. shape (tuple), dtype (str), device (int); numpy() copies to the host.
Shares memory without a copy through __cuda_array_interface__ and __dlpack__.)doc")
      .def_property_readonly("shape", [](const Tensor& t) {
        py::tuple s(t.shape.size());
        for (size_t i = 0; i < t.shape.size(); ++i) s[i] = py::int_(t.shape[i]);
        return s;
      })
      .def_property_readonly("dtype", [](const Tensor& t) { return std::string(dtype_name(t.dtype)); })
      .def_property_readonly("ndim", &Tensor::ndim)
      .def_property_readonly("size", &Tensor::numel)
      .def_property_readonly("nbytes", &Tensor::nbytes)
      .def_property_readonly("device", [](const Tensor& t) { return t.device; })
      .def_property_readonly("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.data); })
      .def("__len__", [](const Tensor& t) {
        if (t.shape.empty()) throw py::type_error("len() of a 0-d tensor");
        return t.shape[0];
      })
      .def("numpy", &to_numpy, "Copy to a new numpy array (waits for pending kernels).")
      .def("reshape", [](const Tensor& t, py::args args) {
        // reshape(2, 3), reshape((2, 3)) and numpy integers all work.
        py::iterable it = args.size() == 1 && py::hasattr(args[0], "__iter__") ? py::iterable(args[0])
                                                                                : py::iterable(args);
        std::vector<int64_t> s;
        for (auto v : it) {
          PyObject* index = PyNumber_Index(v.ptr());  // ints and numpy integers, not floats
          if (!index) throw py::error_already_set();
          s.push_back(py::reinterpret_steal<py::object>(index).cast<int64_t>());
        }
        return reshape(t, s);
      }, "A view with another shape and the same elements (one dimension may be -1).")
      .def("copy", &copy_of, "A new tensor with the same contents.")
      .def_property_readonly("__cuda_array_interface__", &cuda_array_interface)
      .def("__dlpack__", &to_dlpack, py::arg("stream") = py::none())
      .def("__dlpack_device__", [](const Tensor& t) { return py::make_tuple(int(dlpack::kCUDA), t.device); })
      .def("__repr__", [](const Tensor& t) {
        return concat("cnnnative.cuda.Tensor(shape=", t.shape_string(), ", dtype=", dtype_name(t.dtype),
                      ", device=cuda:", t.device, ")");
      });

  m.def("why_unavailable", &why_unavailable,
        "Empty when a usable CUDA device exists, else the reason (e.g. cudaGetDeviceCount's error).");
  m.def("device_count", []() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return n;
  });
  m.def("current_device", &current_device);
  m.def("set_device", [](int d) { CNC_CUDA_CHECK(cudaSetDevice(d)); });
  m.def("device_name", [](int d) {
    cudaDeviceProp prop;
    CNC_CUDA_CHECK(cudaGetDeviceProperties(&prop, d));
    return std::string(prop.name);
  });
  m.def("synchronize", []() {
    py::gil_scoped_release release;
    CNC_CUDA_CHECK(cudaDeviceSynchronize());
  }, "Wait for every queued kernel; raises if one failed.");
  m.def("mem_get_info", []() {
    size_t free_bytes = 0, total_bytes = 0;
    CNC_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    return py::make_tuple(free_bytes, total_bytes);
  }, "(free, total) bytes of the current device.");
  m.def("runtime_version", []() {
    int v = 0;
    cudaRuntimeGetVersion(&v);
    return v;
  });
  m.def("empty", [](py::iterable shape, const std::string& dtype, int device) {
    DeviceGuard guard(device);
    return empty_tensor(shape_from(shape, "empty"), dtype_from_name(dtype), device);
  }, py::arg("shape"), py::arg("dtype") = "float32", py::arg("device") = 0);
  m.def("zeros", [](py::iterable shape, const std::string& dtype, int device) {
    DeviceGuard guard(device);
    Tensor t = empty_tensor(shape_from(shape, "zeros"), dtype_from_name(dtype), device);
    if (t.nbytes() > 0) CNC_CUDA_CHECK(cudaMemsetAsync(t.data, 0, t.nbytes()));
    return t;
  }, py::arg("shape"), py::arg("dtype") = "float32", py::arg("device") = 0);
  m.def("from_numpy", &from_numpy, py::arg("array"), py::arg("device") = 0);
  m.def("upload_into", [](Tensor& t, py::array array) {
    const DType dtype = dtype_from_numpy(array.dtype(), "upload_into");
    py::array host = py::array::ensure(array, py::array::c_style | py::array::forcecast);
    if (!host) throw py::error_already_set();
    CN_CHECK(dtype == t.dtype && static_cast<int64_t>(host.size()) == t.numel(), "upload_into: ",
             host.size(), " ", dtype_name(dtype), " values do not fill a ", dtype_name(t.dtype), " tensor of shape ",
             t.shape_string());
    DeviceGuard guard(t.device);
    const void* src = host.data();
    py::gil_scoped_release release;
    if (t.nbytes() > 0) CNC_CUDA_CHECK(cudaMemcpy(t.data, src, t.nbytes(), cudaMemcpyHostToDevice));
  }, py::arg("tensor"), py::arg("array"), "Copy a host array into an existing tensor (same size and dtype).");
  m.def("from_dlpack_capsule", &from_dlpack_capsule, py::arg("capsule"));
  m.def("from_pointer", &from_pointer, py::arg("ptr"), py::arg("shape"), py::arg("dtype"), py::arg("owner"),
        py::arg("stream") = py::none());
  m.def("concat", &concat_tensors, py::arg("tensors"), py::arg("axis"));
  m.def("narrow", &narrow_tensor, py::arg("tensor"), py::arg("axis"), py::arg("start"), py::arg("length"));
  m.def("empty_cache", []() { empty_cache(); }, "Give cached free device memory back to the driver.");
  m.def("memory_stats", []() {
    const AllocatorStats s = allocator_stats();
    py::dict d;
    d["in_use_bytes"] = s.in_use_bytes;
    d["cached_bytes"] = s.cached_bytes;
    d["peak_in_use_bytes"] = s.peak_in_use_bytes;
    d["device_mallocs"] = s.device_mallocs;
    return d;
  });
}

}  // namespace cuda
}  // namespace cnnnative
