// The inference engine's Plan (cnnnative.inference builds it; see cnnnative/engine.h).
#include <pybind11/stl.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <array>
#include <optional>

#include "activation_names.h"
#include "arrays.h"
#include "out_array.h"
#include "cnnnative/engine.h"
#include "conv/depthwise_cblock.h"
#include "engine/int8_nodes.h"
#include "conv/grouped_cblock.h"
#include "pool/pool_cblock.h"
#include "engine/arena_planner.h"
#include "pool_window.h"
#include "registry.h"

using namespace cnnnative;
using Pair = std::array<int64_t, 2>;
using Quad = std::array<int64_t, 4>;

namespace {
namespace engine_binding {  // a name per file: the bindings compile as unity sources
using namespace cnnnative::engine;  // here, not file-wide: the next file in the unity source would see it

// Building a plan allocates and frees weight-sized temporaries (the copy taken from the
// caller's array, transform scratch). glibc keeps freed heap blocks resident, so after
// compiling ResNet-18 the process held ~60 MB of garbage next to the plan's weights --
// more than the peak-memory budget allows. Layers of 1 MB or more hand the freed pages
// back right away.
constexpr int64_t kTrimAfterBytes = int64_t(1) << 20;

void release_free_heap() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}


std::vector<float> to_vector(const FloatArray& a) { return std::vector<float>(a.data(), a.data() + a.size()); }
std::vector<float> to_vector(const std::optional<FloatArray>& a) {
  return a ? to_vector(*a) : std::vector<float>();
}


py::array_t<float> run_plan(const Plan& plan, FloatArray x, bool poison, const py::object& out) {
  CN_CHECK(plan.finalized(), "the plan is not finalized; call finalize(output) first");
  const auto& in = plan.buffer_shape(0);
  CN_CHECK(x.ndim() == py::ssize_t(in.size()), "input must be ", in.size(), "-D like the compiled shape, got ",
           shape_string(x));
  for (size_t i = 1; i < in.size(); ++i)
    CN_CHECK(x.shape(i) == in[i], "input has shape ", shape_string(x), " but the model was compiled for samples of",
             " dimension ", i, " = ", in[i]);
  const int64_t batch = x.shape(0);
  CN_CHECK(batch <= in[0], "input batch ", batch, " is larger than the compiled batch ", in[0],
           "; compile with a larger input_shape[0]");
  std::vector<int64_t> oshape = plan.buffer_shape(plan.output_id());
  oshape[0] = batch;
  py::array_t<float> y;
  if (!out.is_none()) {
    // The caller's array itself (a float64 `out` was once converted into a copy, written
    // and dropped, leaving the caller's array untouched).
    y = checked_out(out, oshape, {}, {&x}, "run");
  } else {
    y = new_float_array(oshape);
  }
  const float* px = x.data();
  float* py_ = y.mutable_data();
  {
    py::gil_scoped_release release;
    plan.run(px, batch, py_, poison);
  }
  return y;
}

py::list describe(const Plan& plan) {
  py::list nodes;
  for (const Node& n : plan.nodes()) {
    py::dict d;
    d["op"] = op_name(n.kind);
    d["inputs"] = n.inputs;
    d["output"] = n.output;
    d["output_shape"] = plan.buffer_shape(n.output);
    d["activation"] = activation_name(n.act);
    if (n.kind == OpKind::conv) {
      d["method"] = conv_method_name(n.method);
      d["residual"] = n.inputs.size() > 1;
      d["tile"] = std::vector<int64_t>{n.tile_m, n.tile_n};
      d["winograd_tile"] = n.winograd_tile;
      // "channels" where the run takes the 16-channels-per-vector kernels (now, under the
      // active ISA): depthwise (conv/depthwise_cblock.h) or small groups (grouped_cblock.h).
      const bool lanes = (n.method == ConvMethod::depthwise && depthwise::use_channel_blocks(n.conv)) ||
                         (n.method == ConvMethod::im2col_gemm && grouped::use_channel_blocks(n.conv));
      d["lanes"] = lanes ? "channels" : "pixels";
    }
    if (n.kind == OpKind::conv_int8) {  // engine/int8_conv.cc's three ways to run it
      d["method"] = n.quant->depthwise ? "depthwise" : n.quant->taps ? "taps" : "im2col";
      // "m" where the taps run now with lanes along M (output channels per vector:
      // quant::gemm_s8u8_s32_taps_c4t), else "pixels"
      if (n.quant->taps)
        d["lanes"] = quant::gemm_s8_taps_c4t_supported(n.quant->packed[0]) ? "m" : "pixels";
    }
    if (n.kind == OpKind::conv || n.kind == OpKind::linear) d["precision"] = n.bf16_weights ? "bf16" : "fp32";
    if (n.kind == OpKind::concat) {  // its parts already sit in its bytes (engine/concat_in_place.cc)
      const std::vector<BufferInfo>& b = plan.buffers();
      const int root = b[size_t(n.inputs[0])].concat_root;
      d["in_place"] = root >= 0 && (root == n.output || b[size_t(n.output)].concat_root == root);
    }
    d["scratch_bytes"] = n.scratch_bytes;
    nodes.append(d);
  }
  return nodes;
}

CNNNATIVE_BINDINGS(engine) {
  py::class_<Plan>(m, "EnginePlan",
                   "A compiled network: nodes over numbered buffers (0 = input), one planned arena.")
      .def(py::init([](std::vector<int64_t> shape, const std::string& algo) {
             ConvChoice c;
             if (algo == "auto") c = ConvChoice::heuristic;
             else if (algo == "gemm") c = ConvChoice::gemm;
             else if (algo == "autotune") c = ConvChoice::autotune;
             else throw std::invalid_argument("algo must be 'auto', 'gemm' or 'autotune', got '" + algo + "'");
             return std::make_unique<Plan>(std::move(shape), c);
           }),
           py::arg("input_shape"), py::arg("algo") = "auto")
      .def("add_conv",
           [](Plan& p, int input, FloatArray w, std::optional<FloatArray> bias, Pair stride, Quad padding,
              Pair dilation, int64_t groups, const std::string& act, int residual,
              std::optional<FloatArray> slope) {
             CN_CHECK(w.ndim() == 4, "conv weight must be 4-D (K, C/groups, R, S), got ", shape_string(w));
             const int id = p.add_conv(input, to_vector(w), shape_of(w), to_vector(bias), stride[0], stride[1],
                                       std::vector<int64_t>(padding.begin(), padding.end()), dilation[0],
                                       dilation[1], groups, parse_activation(act), residual, to_vector(slope));
             if (w.size() >= kTrimAfterBytes / 4) release_free_heap();
             return id;
           },
           py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("stride"), py::arg("padding"),
           py::arg("dilation"), py::arg("groups"), py::arg("activation") = "none", py::arg("residual") = -1,
           py::arg("slope") = py::none())
      .def("add_conv_transpose",
           [](Plan& p, int input, FloatArray w, std::optional<FloatArray> bias, Pair stride, Pair padding,
              Pair output_padding, Pair dilation, int64_t groups, const std::string& act,
              std::optional<FloatArray> slope) {
             CN_CHECK(w.ndim() == 4, "conv_transpose weight must be 4-D (C_in, C_out/groups, kH, kW), got ",
                      shape_string(w));
             const int id = p.add_conv_transpose(input, to_vector(w), shape_of(w), to_vector(bias), stride[0],
                                                 stride[1], padding[0], padding[1], output_padding[0],
                                                 output_padding[1], dilation[0], dilation[1], groups,
                                                 parse_activation(act), to_vector(slope));
             if (w.size() >= kTrimAfterBytes / 4) release_free_heap();
             return id;
           },
           py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("stride"), py::arg("padding"),
           py::arg("output_padding"), py::arg("dilation"), py::arg("groups"), py::arg("activation") = "none",
           py::arg("slope") = py::none())
      .def("add_max_pool",
           [](Plan& p, int input, Pair k, Pair s, Quad pad, Pair d, bool ceil_mode) {
             return p.add_max_pool(input, bindings::pool_window(k, s, pad, d, ceil_mode, true));
           },
           py::arg("input"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
           py::arg("ceil_mode"))
      .def("add_avg_pool",
           [](Plan& p, int input, Pair k, Pair s, Quad pad, bool ceil_mode, bool count_include_pad) {
             return p.add_avg_pool(input, bindings::pool_window(k, s, pad, {1, 1}, ceil_mode, count_include_pad));
           },
           py::arg("input"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"),
           py::arg("count_include_pad"))
      .def("add_global_avg_pool", &Plan::add_global_avg_pool, py::arg("input"))
      .def("add_linear",
           [](Plan& p, int input, FloatArray w, std::optional<FloatArray> bias, const std::string& act,
              std::optional<FloatArray> slope) {
             CN_CHECK(w.ndim() == 2, "linear weight must be 2-D (out, in), got ", shape_string(w));
             const int id = p.add_linear(input, to_vector(w), w.shape(0), w.shape(1), to_vector(bias),
                                         parse_activation(act), to_vector(slope));
             if (w.size() >= kTrimAfterBytes / 4) release_free_heap();
             return id;
           },
           py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("activation") = "none",
           py::arg("slope") = py::none())
      .def("add_add",
           [](Plan& p, int a, int b, const std::string& act) { return p.add_add(a, b, parse_activation(act)); },
           py::arg("a"), py::arg("b"), py::arg("activation") = "none")
      .def("add_concat", &Plan::add_concat, py::arg("inputs"))
      .def("add_flatten", &Plan::add_flatten, py::arg("input"))
      .def("add_softmax", &Plan::add_softmax, py::arg("input"))
      .def("add_channel_affine",
           [](Plan& p, int input, FloatArray scale, FloatArray shift, const std::string& act) {
             return p.add_channel_affine(input, to_vector(scale), to_vector(shift), parse_activation(act));
           },
           py::arg("input"), py::arg("scale"), py::arg("shift"), py::arg("activation") = "none")
      .def("add_activation",
           [](Plan& p, int input, const std::string& act) { return p.add_activation(input, parse_activation(act)); },
           py::arg("input"), py::arg("activation"))
      .def("add_channel_scale", &Plan::add_channel_scale, py::arg("input"), py::arg("scale"))
      .def("add_interpolate",
           [](Plan& p, int input, Pair size, const std::string& mode, bool align_corners, std::pair<double, double> scale) {
             InterpSpec spec;
             CN_CHECK(mode == "nearest" || mode == "nearest-exact" || mode == "linear",
                      "interpolate: mode must be 'nearest', 'nearest-exact' or 'linear', got '", mode, "'");
             spec.mode = mode == "nearest" ? InterpMode::nearest
                         : mode == "nearest-exact" ? InterpMode::nearest_exact : InterpMode::linear;
             spec.align_corners = align_corners;
             spec.scale_h = scale.first;
             spec.scale_w = scale.second;
             return p.add_interpolate(input, size[0], size[1], spec);
           },
           py::arg("input"), py::arg("size"), py::arg("mode"), py::arg("align_corners"), py::arg("scale"),
           "size (out_h, out_w); scale: PyTorch's scale_factor per axis, 0 where the sizes rule")
      .def("add_pixel_shuffle", &Plan::add_pixel_shuffle, py::arg("input"), py::arg("upscale_factor"))
      .def("add_pixel_unshuffle", &Plan::add_pixel_unshuffle, py::arg("input"), py::arg("downscale_factor"))
      .def("add_channel_shuffle", &Plan::add_channel_shuffle, py::arg("input"), py::arg("groups"))
      .def("add_channel_slice", &Plan::add_channel_slice, py::arg("input"), py::arg("start"), py::arg("count"))
      .def(
          "set_precision",
          [](Plan& p, const std::string& precision) {
            CN_CHECK(precision == "fp32" || precision == "bf16", "precision must be 'fp32' or 'bf16', got '",
                     precision, "'");
            p.set_precision(precision == "bf16" ? Precision::bf16 : Precision::fp32);
          },
          py::arg("precision"),
          "'bf16': conv (but depthwise) and linear nodes added afterwards multiply bf16 inputs and weights "
          "with fp32 accumulation; 'fp32' (default): everything fp32.")
      .def_property_readonly("precision",
                             [](const Plan& p) { return p.precision() == Precision::bf16 ? "bf16" : "fp32"; })
      .def("finalize", &Plan::finalize, py::arg("output"))
      .def("run", &run_plan, py::arg("input"), py::arg("poison") = false, py::arg("out") = py::none(),
           "Run every node with the GIL released; input (n, ...) with n <= the compiled batch.")
      .def("profile",
           [](const Plan& plan, FloatArray x) {
             CN_CHECK(plan.finalized(), "the plan is not finalized");
             CN_CHECK(x.ndim() >= 1 && x.shape(0) <= plan.planned_batch() &&
                          x.size() == x.shape(0) * (plan.buffers()[0].per_sample()),
                      "profile: input shape ", shape_string(x), " does not fit the plan");
             std::vector<int64_t> oshape = plan.buffer_shape(plan.output_id());
             oshape[0] = x.shape(0);
             auto y = new_float_array(oshape);
             std::vector<double> t;
             const float* px = x.data();
             float* py_ = y.mutable_data();
             {
               py::gil_scoped_release release;
               plan.run(px, x.shape(0), py_, false, &t);
             }
             return t;
           },
           py::arg("input"), "Run once and return each node's seconds.")
      .def("buffer_shape", &Plan::buffer_shape, py::arg("id"))
      .def_property_readonly("output_id", &Plan::output_id)
      .def_property_readonly("arena_bytes", &Plan::arena_bytes)
      .def_property_readonly("weight_bytes", &Plan::weight_bytes)
      .def_property_readonly("unshared_bytes", &Plan::unshared_bytes)
      .def_property_readonly("arenas_created", &Plan::arenas_created)
      .def_property_readonly("planned_threads", &Plan::planned_threads)
      .def("nodes", &describe);

  // Exposed so tests can check the placement on synthetic lifetimes.
  m.def("_engine_plan_arena",
        [](const std::vector<std::array<int64_t, 3>>& requests, int64_t alignment) {
          std::vector<ArenaRequest> r;
          for (auto& q : requests) r.push_back({q[0], int(q[1]), int(q[2])});
          ArenaLayout l = plan_arena(r, alignment);
          return py::make_tuple(l.offsets, l.total_bytes);
        },
        py::arg("requests"), py::arg("alignment") = 64);

  // Tests and benchmarks: which depthwise layout later engine runs use.
  m.def(
      "_force_depthwise_layout",
      [](const std::string& layout) {
        using depthwise::DepthwiseLayout;
        if (layout == "auto")
          depthwise::force_depthwise_layout(DepthwiseLayout::automatic);
        else if (layout == "planes")
          depthwise::force_depthwise_layout(DepthwiseLayout::planes);
        else if (layout == "channels")
          depthwise::force_depthwise_layout(DepthwiseLayout::channels);
        else
          throw py::value_error("layout must be 'auto', 'planes' or 'channels', got '" + layout + "'");
      },
      py::arg("layout"),
      "Depthwise convolutions in compiled models: 'auto' (the measured rule), 'planes' (the per-plane "
      "kernels) or 'channels' (16 channels per vector, AVX-512, where the geometry allows).");
  m.def(
      "_force_pool_layout",
      [](const std::string& layout) {
        if (layout != "auto" && layout != "planes" && layout != "channels")
          throw py::value_error("layout must be 'auto', 'planes' or 'channels', got '" + layout + "'");
        force_pool_cblock(layout == "auto" ? 0 : layout == "planes" ? 1 : 2);
      },
      py::arg("layout"),
      "Max and average pooling (compiled and eager): 'auto' (the measured rule), 'planes' (the per-plane "
      "kernels) or 'channels' (16 planes per vector, AVX-512, where the window allows).");
}

}  // namespace engine_binding
}  // namespace
