// pad / pad_backward: torch.nn.functional.pad's four modes over the last three dimensions
// of a (planes, D, H, W) array (see pad/pad.h). The Python op reshapes 1-D, 2-D and 3-D
// padding of any batch layout to this form.
#include <pybind11/stl.h>

#include <array>
#include <string>

#include "act/debug_fill.h"
#include "arrays.h"
#include "pad/pad.h"
#include "registry.h"

using namespace cnnnative;

namespace {
namespace pad_binding {  // a name per file: the bindings compile as unity sources

using Pads = std::array<int64_t, 6>;  // (W before, W after, H before, H after, D before, D after)
using Shape4 = std::array<int64_t, 4>;

PadGeometry geometry(const Shape4& input_shape, const Pads& pads, const std::string& mode) {
  PadGeometry g;
  g.mode = pad_mode_from_string(mode);
  g.planes = input_shape[0];
  for (int a = 0; a < 3; ++a) g.axis[a] = PadAxis{input_shape[3 - a], pads[2 * a], pads[2 * a + 1]};
  check_pad_geometry(g);
  return g;
}

std::vector<int64_t> output_shape(const PadGeometry& g) {
  return {g.planes, g.axis[2].out_size(), g.axis[1].out_size(), g.axis[0].out_size()};
}

py::array_t<float> forward(FloatArray x, Pads pads, const std::string& mode, double value) {
  require_ndim(x, 4, "pad: input");
  const PadGeometry g = geometry({x.shape(0), x.shape(1), x.shape(2), x.shape(3)}, pads, mode);
  FloatArray y = new_float_array(output_shape(g));
  float* py_ = y.mutable_data();
  poison(py_, static_cast<int64_t>(y.size()));
  const float* px = x.data();
  {
    py::gil_scoped_release release;
    pad_forward(px, py_, g, static_cast<float>(value));
  }
  return y;
}

py::array_t<float> backward(FloatArray gy, Shape4 input_shape, Pads pads, const std::string& mode) {
  require_ndim(gy, 4, "pad_backward: grad_output");
  const PadGeometry g = geometry(input_shape, pads, mode);
  const std::vector<int64_t> expected = output_shape(g);
  for (int i = 0; i < 4; ++i)
    CN_CHECK(gy.shape(i) == expected[static_cast<size_t>(i)], "pad_backward: grad_output has shape ",
             shape_string(gy), ", expected (", expected[0], ", ", expected[1], ", ", expected[2], ", ",
             expected[3], ") for input shape (", input_shape[0], ", ", input_shape[1], ", ", input_shape[2],
             ", ", input_shape[3], ")");
  FloatArray gx = new_float_array({input_shape[0], input_shape[1], input_shape[2], input_shape[3]});
  float* pgx = gx.mutable_data();
  poison(pgx, static_cast<int64_t>(gx.size()));
  const float* pgy = gy.data();
  {
    py::gil_scoped_release release;
    pad_backward(pgy, pgx, g);
  }
  return gx;
}

CNNNATIVE_BINDINGS(pad) {
  m.def("pad", &forward, py::arg("input"), py::arg("pads"), py::arg("mode"), py::arg("value") = 0.0,
        "Pads the last three dimensions of a (planes, D, H, W) array; pads = (W before, W after, "
        "H before, H after, D before, D after), negative crops; mode constant/reflect/replicate/circular.");
  m.def("pad_backward", &backward, py::arg("grad_output"), py::arg("input_shape"), py::arg("pads"),
        py::arg("mode"), "Gradient of pad with respect to its input: borders add into the elements they copy.");
}

}  // namespace pad_binding
}  // namespace
