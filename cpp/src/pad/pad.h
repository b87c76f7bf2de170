// Padding of the last three dimensions of a (planes, D, H, W) float32 array, as
// torch.nn.functional.pad: constant, reflect, replicate and circular, with torch's rules
// for negative pads (they crop). 1-D and 2-D padding are the cases D = 1 (and H = 1).
//
// Every output element is either the constant or one input element; which one is decided
// per dimension by an index map (PadAxis::source), so the three dimensions and the four
// modes share one row loop. Inside a row the middle part is a straight copy (memcpy
// forward, a vector add backward) and only the borders go through the map.
#pragma once
#include <cstdint>
#include <string>

namespace cnnnative {

enum class PadMode { kConstant, kReflect, kReplicate, kCircular };

// Parses "constant" / "reflect" / "replicate" / "circular"; ValueError otherwise.
PadMode pad_mode_from_string(const std::string& mode);

// One dimension: input size and the pads before and after it (negative = crop).
struct PadAxis {
  int64_t size = 1, before = 0, after = 0;
  int64_t out_size() const { return size + before + after; }
};

// pads[] are (W, H, D): the order of torch's flat pad tuple (last dimension first).
struct PadGeometry {
  int64_t planes = 1;
  PadAxis axis[3];  // [0] = W, [1] = H, [2] = D
  PadMode mode = PadMode::kConstant;
};

// Throws ValueError (with the sizes) for a geometry the mode cannot pad: reflect needs
// each pad < the size, replicate a non-empty input, circular pads <= the (cropped) size;
// every output size must be >= 0, and >= 1 for reflect and replicate, as torch.
// OverflowError when the output does not fit int64.
void check_pad_geometry(const PadGeometry& g);

// out: (planes, D', H', W') with the padded sizes.
void pad_forward(const float* in, float* out, const PadGeometry& g, float value);

// grad_in: (planes, D, H, W) = the sum of grad_out over the output elements each input
// element was copied to (reflect and replicate borders add into the edges; constant
// padding's gradient is grad_out cropped, done as a constant pad by the negated pads).
void pad_backward(const float* grad_out, float* grad_in, const PadGeometry& g);

}  // namespace cnnnative
