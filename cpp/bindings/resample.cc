// interpolate (resample), pixel_shuffle / pixel_unshuffle, channel_shuffle and channel_scale,
// forward and backward (NC(D)(H)W float32). Shapes and factors are checked here, the GIL is
// released around every kernel.
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "act/debug_fill.h"
#include "arrays.h"
#include "out_array.h"
#include "registry.h"
#include "resample/resample.h"

using namespace cnnnative;

namespace {
namespace resample_binding {  // a name per file: the bindings compile as unity sources

std::vector<int64_t> shape_of_array(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

ResampleMode parse_mode(const std::string& mode) {
  if (mode == "nearest") return ResampleMode::nearest;
  if (mode == "nearest-exact") return ResampleMode::nearest_exact;
  if (mode == "linear") return ResampleMode::linear;
  throw std::invalid_argument("interpolate: mode must be 'nearest', 'nearest-exact' or 'linear' here, got '" +
                              mode + "'");
}

// Params from the input shape (N, C, *spatial), the output's spatial sizes and the scales.
ResampleParams make_params(const std::vector<int64_t>& in_shape, const std::vector<int64_t>& out_spatial,
                           const std::vector<double>& scales, const std::string& mode, bool align_corners,
                           const char* op) {
  const size_t dims = in_shape.size() >= 2 ? in_shape.size() - 2 : 0;
  CN_CHECK(dims >= 1 && dims <= 3, op, ": input must be 3-D, 4-D or 5-D (N, C, *spatial), got ", in_shape.size(),
           " dimensions");
  CN_CHECK(out_spatial.size() == dims && scales.size() == dims, op, ": ", dims,
           " spatial dimensions but output size has ", out_spatial.size(), " and scales ", scales.size());
  ResampleParams p;
  p.planes = checked_mul(in_shape[0], in_shape[1], "batch * channels");
  for (size_t i = 0; i < dims; ++i) {
    ResampleAxis& a = p.axis[3 - dims + i];
    a.in = in_shape[2 + i];
    a.out = out_spatial[i];
    a.scale = scales[i];
  }
  p.mode = parse_mode(mode);
  p.align_corners = align_corners;
  validate_resample(p, op);
  return p;
}

py::array_t<float> resample(FloatArray x, const std::string& mode, bool align_corners,
                            const std::vector<int64_t>& output_size, const std::vector<double>& scales) {
  const std::vector<int64_t> in_shape = shape_of_array(x);
  const ResampleParams p = make_params(in_shape, output_size, scales, mode, align_corners, "interpolate");
  std::vector<int64_t> out_shape = {in_shape[0], in_shape[1]};
  out_shape.insert(out_shape.end(), output_size.begin(), output_size.end());
  auto y = new_float_array(out_shape);
  float* py_ = y.mutable_data();
  const float* px = x.data();
  poison(py_, static_cast<int64_t>(y.size()));
  {
    py::gil_scoped_release release;
    resample_forward(p, px, py_);
  }
  return y;
}

py::array_t<float> resample_bwd(FloatArray g, const std::vector<int64_t>& input_size, const std::string& mode,
                                bool align_corners, const std::vector<double>& scales) {
  CN_CHECK(input_size.size() >= 3, "interpolate_backward: input_size must be (N, C, *spatial), got ",
           input_size.size(), " dimensions");
  CN_CHECK(g.ndim() == static_cast<py::ssize_t>(input_size.size()) && g.shape(0) == input_size[0] &&
               g.shape(1) == input_size[1],
           "interpolate_backward: grad_output has shape ", shape_string(g), " but the input is ",
           input_size.size(), "-D with batch ", input_size[0], " and ", input_size[1], " channels");
  std::vector<int64_t> out_spatial(g.shape() + 2, g.shape() + g.ndim());
  const ResampleParams p = make_params(input_size, out_spatial, scales, mode, align_corners, "interpolate_backward");
  auto gx = new_float_array(input_size);
  float* pgx = gx.mutable_data();
  const float* pg = g.data();
  poison(pgx, static_cast<int64_t>(gx.size()));
  {
    py::gil_scoped_release release;
    resample_backward(p, pg, pgx);
  }
  return gx;
}

// --- layout ---------------------------------------------------------------------------------

void require_factor(int64_t r, const char* name, const char* op) {
  CN_CHECK(r >= 1 && r <= 64, op, ": ", name, " must be between 1 and 64, got ", r);
}

py::array_t<float> shuffle_pixels(FloatArray x, int64_t r, bool shuffle) {
  const char* op = shuffle ? "pixel_shuffle" : "pixel_unshuffle";
  const char* factor = shuffle ? "upscale_factor" : "downscale_factor";
  require_factor(r, factor, op);
  CN_CHECK(x.ndim() >= 3, op, ": input must have at least 3 dimensions (*, C, H, W), got shape ", shape_string(x));
  std::vector<int64_t> shape = shape_of_array(x);
  const size_t nd = shape.size();
  int64_t outer = 1;
  for (size_t i = 0; i + 3 < nd; ++i) outer = checked_mul(outer, shape[i], "batch size");
  const int64_t c = shape[nd - 3], h = shape[nd - 2], w = shape[nd - 1], rr = r * r;
  if (shuffle) {
    CN_CHECK(c % rr == 0, op, ": the ", c, " input channels are not divisible by upscale_factor**2 = ", rr,
             " (upscale_factor=", r, ")");
    shape[nd - 3] = c / rr;
    shape[nd - 2] = checked_mul(h, r, "output height");
    shape[nd - 1] = checked_mul(w, r, "output width");
  } else {
    CN_CHECK(h % r == 0 && w % r == 0, op, ": height ", h, " and width ", w,
             " must both be divisible by downscale_factor=", r);
    shape[nd - 3] = checked_mul(c, rr, "output channels");
    shape[nd - 2] = h / r;
    shape[nd - 1] = w / r;
  }
  auto y = new_float_array(shape);
  const float* px = x.data();
  float* py_ = y.mutable_data();
  poison(py_, static_cast<int64_t>(y.size()));
  {
    py::gil_scoped_release release;
    if (shuffle) {
      pixel_shuffle(px, py_, outer, c / rr, h, w, r);
    } else {
      pixel_unshuffle(px, py_, outer, c, h / r, w / r, r);
    }
  }
  return y;
}

py::array_t<float> shuffle_channels(FloatArray x, int64_t groups) {
  CN_CHECK(x.ndim() >= 3, "channel_shuffle: input must have at least 3 dimensions (N, C, *), got shape ",
           shape_string(x));
  CN_CHECK(groups >= 1, "channel_shuffle: groups must be positive, got ", groups);
  const int64_t n = x.shape(0), c = x.shape(1);
  CN_CHECK(c % groups == 0, "channel_shuffle: the ", c, " channels are not divisible by groups=", groups);
  int64_t hw = 1;
  for (py::ssize_t i = 2; i < x.ndim(); ++i) hw = checked_mul(hw, x.shape(i), "spatial size");
  auto y = new_float_array(shape_of_array(x));
  const float* px = x.data();
  float* py_ = y.mutable_data();
  poison(py_, static_cast<int64_t>(y.size()));
  {
    py::gil_scoped_release release;
    channel_shuffle(px, py_, n, c, hw, groups);
  }
  return y;
}

// --- channel scale --------------------------------------------------------------------------

// (planes, hw) of x (N, C, *) after checking that s holds one value per (n, c).
std::pair<int64_t, int64_t> scale_geometry(const py::array& x, const py::array& s, const char* op) {
  CN_CHECK(x.ndim() >= 2, op, ": input must be (N, C, *), got shape ", shape_string(x));
  bool ok = s.ndim() >= 2 && s.ndim() <= x.ndim() && s.shape(0) == x.shape(0) && s.shape(1) == x.shape(1);
  for (py::ssize_t i = 2; ok && i < s.ndim(); ++i) ok = s.shape(i) == 1;
  CN_CHECK(ok, op, ": scale must be (N, C) or (N, C, 1, ...) with N, C of the input ", shape_string(x),
           ", got shape ", shape_string(s));
  int64_t hw = 1;
  for (py::ssize_t i = 2; i < x.ndim(); ++i) hw = checked_mul(hw, x.shape(i), "spatial size");
  return {x.shape(0) * x.shape(1), hw};
}

py::array_t<float> channel_scale(FloatArray x, FloatArray s, py::object out) {
  const auto [planes, hw] = scale_geometry(x, s, "channel_scale");
  py::array_t<float> y;
  if (out.is_none()) {
    y = new_float_array(shape_of_array(x));
    poison(y.mutable_data(), static_cast<int64_t>(y.size()));
  } else {
    y = checked_out(out, shape_of_array(x), {&x}, {&s}, "channel_scale");
  }
  const float *px = x.data(), *ps = s.data();
  float* py_ = y.mutable_data();
  {
    py::gil_scoped_release release;
    channel_scale_forward(px, ps, py_, planes, hw);
  }
  return y;
}

py::tuple channel_scale_bwd(FloatArray g, FloatArray x, FloatArray s, bool want_input, bool want_scale) {
  const auto [planes, hw] = scale_geometry(x, s, "channel_scale_backward");
  CN_CHECK(shape_of_array(g) == shape_of_array(x), "channel_scale_backward: grad_output has shape ",
           shape_string(g), " but the input has shape ", shape_string(x));
  py::object gx_obj = py::none(), gs_obj = py::none();
  float *pgx = nullptr, *pgs = nullptr;
  if (want_input) {
    auto gx = new_float_array(shape_of_array(x));
    pgx = gx.mutable_data();
    poison(pgx, static_cast<int64_t>(gx.size()));
    gx_obj = gx;
  }
  if (want_scale) {
    auto gs = new_float_array(shape_of_array(s));
    pgs = gs.mutable_data();
    poison(pgs, static_cast<int64_t>(gs.size()));
    gs_obj = gs;
  }
  const float *pg = g.data(), *px = x.data(), *ps = s.data();
  {
    py::gil_scoped_release release;
    channel_scale_backward(pg, px, ps, pgx, pgs, planes, hw);
  }
  return py::make_tuple(gx_obj, gs_obj);
}

CNNNATIVE_BINDINGS(resample) {
  m.def("resample", &resample, py::arg("x"), py::arg("mode"), py::arg("align_corners"), py::arg("output_size"),
        py::arg("scales"),
        "interpolate's kernel: mode 'nearest' | 'nearest-exact' | 'linear' (separable, 1-3 spatial axes); "
        "scales[i] is the user's scale_factor for axis i or 0.");
  m.def("resample_backward", &resample_bwd, py::arg("grad_output"), py::arg("input_size"), py::arg("mode"),
        py::arg("align_corners"), py::arg("scales"));
  m.def("pixel_shuffle", [](FloatArray x, int64_t r) { return shuffle_pixels(x, r, true); }, py::arg("x"),
        py::arg("upscale_factor"));
  m.def("pixel_unshuffle", [](FloatArray x, int64_t r) { return shuffle_pixels(x, r, false); }, py::arg("x"),
        py::arg("downscale_factor"));
  m.def("channel_shuffle", &shuffle_channels, py::arg("x"), py::arg("groups"));
  m.def("channel_scale", &channel_scale, py::arg("x"), py::arg("scale"), py::arg("out") = py::none());
  m.def("channel_scale_backward", &channel_scale_bwd, py::arg("grad_output"), py::arg("x"), py::arg("scale"),
        py::arg("want_input") = true, py::arg("want_scale") = true);
}

}  // namespace resample_binding
}  // namespace
