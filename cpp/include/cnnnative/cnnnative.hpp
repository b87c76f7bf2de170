// A header-only C++ wrapper of the C API (cnnnative.h): RAII handles, exceptions on
// error, std::vector outputs.
//
//     cnnnative::Model model("model.cnn");                 // throws cnnnative::Error
//     cnnnative::Session session(model, /*num_threads=*/4);
//     std::vector<float> scores = session.run(pixels, {1, 3, 224, 224});
//
// Thread safety is the C API's: a Model may be shared by threads, a Session is used by one
// thread at a time (one Session per concurrent caller). Link with -lcnnnative.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cnnnative/cnnnative.h"

namespace cnnnative {

// A failed C API call: the status and cnn_last_error()'s text.
class Error : public std::runtime_error {
 public:
  Error(cnn_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  cnn_status status() const noexcept { return status_; }

 private:
  cnn_status status_;
};

namespace detail {
inline void check(cnn_status status) {
  if (status != CNN_OK) throw Error(status, std::string(cnn_status_name(status)) + ": " + cnn_last_error());
}
}  // namespace detail

inline std::string version() { return cnn_version(); }

// A loaded plan file. Movable, not copyable.
class Model {
 public:
  explicit Model(const std::string& path) { detail::check(cnn_model_load_file(path.c_str(), &model_)); }
  Model(const void* data, size_t size) { detail::check(cnn_model_load_memory(data, size, &model_)); }
  ~Model() { cnn_model_free(model_); }
  Model(Model&& other) noexcept : model_(std::exchange(other.model_, nullptr)) {}
  Model& operator=(Model&& other) noexcept {
    std::swap(model_, other.model_);
    return *this;
  }
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  std::string input_name() const {
    const char* name = nullptr;
    detail::check(cnn_model_input_name(model_, 0, &name));
    return name;
  }
  std::string output_name() const {
    const char* name = nullptr;
    detail::check(cnn_model_output_name(model_, 0, &name));
    return name;
  }
  // Planned shapes: [0] is the largest batch a run takes.
  std::vector<int64_t> input_shape() const { return shape(true); }
  std::vector<int64_t> output_shape() const { return shape(false); }

  const cnn_model* get() const noexcept { return model_; }

 private:
  std::vector<int64_t> shape(bool input) const {
    int64_t dims[CNN_MAX_DIMS];
    size_t ndim = 0;
    detail::check(input ? cnn_model_input_shape(model_, 0, dims, CNN_MAX_DIMS, &ndim)
                        : cnn_model_output_shape(model_, 0, dims, CNN_MAX_DIMS, &ndim));
    return std::vector<int64_t>(dims, dims + ndim);
  }
  cnn_model* model_ = nullptr;
};

// One caller's arena and thread count. The session keeps its model's data alive, so it may
// outlive the Model object.
class Session {
 public:
  explicit Session(const Model& model, int num_threads = 0) {
    cnn_session_options options;
    cnn_session_options_init(&options);
    options.num_threads = num_threads;
    detail::check(cnn_session_create(model.get(), &options, &session_));
    int64_t dims[CNN_MAX_DIMS];
    size_t ndim = 0;
    detail::check(cnn_model_output_shape(model.get(), 0, dims, CNN_MAX_DIMS, &ndim));
    output_shape_.assign(dims, dims + ndim);
  }
  ~Session() { cnn_session_free(session_); }
  Session(Session&& other) noexcept
      : session_(std::exchange(other.session_, nullptr)), output_shape_(std::move(other.output_shape_)) {}
  Session& operator=(Session&& other) noexcept {
    std::swap(session_, other.session_);
    std::swap(output_shape_, other.output_shape_);
    return *this;
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // input: a dense row-major array of `shape` (shape[0] = batch <= the planned batch).
  // Returns the output, (batch, ...) row-major; `out_shape`, when given, receives its shape.
  std::vector<float> run(const float* input, const std::vector<int64_t>& shape,
                         std::vector<int64_t>* out_shape = nullptr) {
    std::vector<float> out;
    run(input, shape, out, out_shape);
    return out;
  }
  std::vector<float> run(const std::vector<float>& input, const std::vector<int64_t>& shape,
                         std::vector<int64_t>* out_shape = nullptr) {
    return run(input.data(), shape, out_shape);
  }
  // The same into `out`, resized as needed (reuse it to run without allocating).
  void run(const float* input, const std::vector<int64_t>& shape, std::vector<float>& out,
           std::vector<int64_t>* out_shape = nullptr) {
    if (shape.empty() || shape.size() > CNN_MAX_DIMS)
      throw Error(CNN_ERROR_SHAPE_MISMATCH, "cnnnative::Session::run: the input shape has " +
                                                std::to_string(shape.size()) + " dimensions");
    cnn_tensor in = {};
    in.data = const_cast<float*>(input);  // the C API only reads inputs
    in.ndim = int32_t(shape.size());
    for (size_t i = 0; i < shape.size(); ++i) in.shape[i] = shape[i];
    size_t per_sample = 1;
    for (size_t i = 1; i < output_shape_.size(); ++i) per_sample *= size_t(output_shape_[i]);
    // A batch the model refuses leaves `out` empty: cnn_run reports the shape first.
    const bool batch_ok = !output_shape_.empty() && shape[0] >= 1 && shape[0] <= output_shape_[0];
    out.resize(batch_ok ? size_t(shape[0]) * per_sample : 0);
    cnn_tensor result = {};
    result.data = out.data();
    result.capacity = out.size();
    detail::check(cnn_run(session_, &in, 1, &result, 1));
    if (out_shape) out_shape->assign(result.shape, result.shape + result.ndim);
  }

  cnn_session* get() const noexcept { return session_; }

 private:
  cnn_session* session_ = nullptr;
  std::vector<int64_t> output_shape_;
};

}  // namespace cnnnative
