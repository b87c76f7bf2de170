// The _cuda extension module: the tensor type and memory functions, then the ops.
// Importing it never touches the GPU: functions report a missing driver or device when
// called (is the backend usable? see why_unavailable()).
#include "common.h"

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "cnnnative CUDA backend (use it through cnnnative.cuda)";
  cnnnative::cuda::bind_tensor(m);
  cnnnative::cuda::bind_conv(m);
  cnnnative::cuda::bind_misc_ops(m);
}
