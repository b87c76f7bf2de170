// Sessions (a model plus one arena and a thread count) and running them.
#include <cstdlib>
#include <cstring>
#include <string>

#include "capi/internal.h"
#include "cnnnative/errors.h"
#include "cnnnative/threads.h"

using cnnnative::capi::fail;
using cnnnative::capi::guarded;

namespace {
constexpr size_t kAlign = 64;
constexpr int32_t kOwnedByLibrary = 1;  // cnn_tensor.flags: cnn_run allocated data

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};

float* aligned_floats(size_t bytes) {
  bytes = (bytes + kAlign - 1) / kAlign * kAlign;
  return static_cast<float*>(std::aligned_alloc(kAlign, bytes ? bytes : kAlign));
}

std::string shape_text(const int64_t* dims, size_t n) {
  std::string s = "(";
  for (size_t i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + (n == 1 ? ",)" : ")");
}
}  // namespace

struct cnn_session {
  std::shared_ptr<const cnnnative::capi::ModelData> model;
  std::unique_ptr<float, FreeDeleter> arena;  // this session's runs, one at a time
  int threads = 0;                            // 0: the library default
};

extern "C" {

void cnn_session_options_init(cnn_session_options* options) {
  if (!options) return;
  std::memset(options, 0, sizeof *options);
  options->struct_size = sizeof *options;
}

cnn_status cnn_session_create(const cnn_model* model, const cnn_session_options* options, cnn_session** session) {
  if (!session) return fail(CNN_ERROR_INVALID_ARGUMENT, "cnn_session_create: session is NULL");
  *session = nullptr;
  if (!model) return fail(CNN_ERROR_INVALID_ARGUMENT, "cnn_session_create: model is NULL");
  int threads = 0;
  if (options) {
    // Fields past what the caller's struct_size covers keep their defaults.
    if (options->struct_size < offsetof(cnn_session_options, num_threads) + sizeof(int32_t))
      return fail(CNN_ERROR_INVALID_ARGUMENT,
                  "cnn_session_create: options->struct_size is " + std::to_string(options->struct_size) +
                      "; initialise the options with cnn_session_options_init");
    if (options->num_threads < 0)
      return fail(CNN_ERROR_INVALID_ARGUMENT, "cnn_session_create: options->num_threads must be >= 0 (0: default), got " +
                                                  std::to_string(options->num_threads));
    threads = options->num_threads;
  }
  return guarded(CNN_ERROR_INVALID_ARGUMENT, "cnn_session_create", [&] {
    auto s = std::make_unique<cnn_session>();
    s->model = model->data;
    s->threads = threads;
    s->arena.reset(aligned_floats(size_t(model->data->plan->arena_bytes())));
    if (!s->arena) throw std::bad_alloc();
    *session = s.release();
    return CNN_OK;
  });
}

void cnn_session_free(cnn_session* session) { delete session; }

size_t cnn_tensor_numel(const cnn_tensor* t) {
  if (!t || t->ndim < 0 || t->ndim > CNN_MAX_DIMS) return 0;
  size_t n = 1;
  for (int i = 0; i < t->ndim; ++i) {
    if (t->shape[i] < 0) return 0;
    if (__builtin_mul_overflow(n, size_t(t->shape[i]), &n)) return 0;
  }
  return n;
}

void cnn_tensor_free(cnn_tensor* t) {
  if (!t) return;
  if (t->flags & kOwnedByLibrary) {
    std::free(t->data);
    t->data = nullptr;
    t->capacity = 0;
    t->flags &= ~kOwnedByLibrary;
  }
}

cnn_status cnn_run(cnn_session* session, const cnn_tensor* inputs, size_t num_inputs, cnn_tensor* outputs,
                   size_t num_outputs) {
  if (!session) return fail(CNN_ERROR_INVALID_ARGUMENT, "cnn_run: session is NULL");
  if (!inputs) return fail(CNN_ERROR_INVALID_ARGUMENT, "cnn_run: inputs is NULL");
  if (!outputs) return fail(CNN_ERROR_INVALID_ARGUMENT, "cnn_run: outputs is NULL");
  if (num_inputs != 1)
    return fail(CNN_ERROR_INVALID_ARGUMENT, "cnn_run: the model has 1 input, num_inputs is " + std::to_string(num_inputs));
  if (num_outputs != 1)
    return fail(CNN_ERROR_INVALID_ARGUMENT,
                "cnn_run: the model has 1 output, num_outputs is " + std::to_string(num_outputs));
  const auto& m = *session->model;
  const cnn_tensor& in = inputs[0];
  cnn_tensor& out = outputs[0];
  if (!in.data) return fail(CNN_ERROR_INVALID_ARGUMENT, "cnn_run: inputs[0].data is NULL");
  const auto& want = m.input.shape;
  if (in.ndim < 1 || in.ndim > CNN_MAX_DIMS || size_t(in.ndim) != want.size())
    return fail(CNN_ERROR_SHAPE_MISMATCH, "cnn_run: inputs[0] ('" + m.input.name + "') has " + std::to_string(in.ndim) +
                                              " dimensions, the model takes " + std::to_string(want.size()) + ": " +
                                              shape_text(want.data(), want.size()));
  const int64_t batch = in.shape[0];
  bool same = true;
  for (size_t i = 1; i < want.size(); ++i) same = same && in.shape[i] == want[i];
  if (!same || batch < 1 || batch > want[0])
    return fail(CNN_ERROR_SHAPE_MISMATCH,
                "cnn_run: inputs[0] ('" + m.input.name + "') has shape " + shape_text(in.shape, size_t(in.ndim)) +
                    "; the model takes " + shape_text(want.data(), want.size()) + " with a batch from 1 to " +
                    std::to_string(want[0]));
  const auto& oshape = m.output.shape;
  if (oshape.size() > CNN_MAX_DIMS)
    return fail(CNN_ERROR_INTERNAL, "cnn_run: the output has more than CNN_MAX_DIMS dimensions");
  size_t out_count = size_t(batch), in_count = size_t(batch);
  for (size_t i = 1; i < oshape.size(); ++i) out_count *= size_t(oshape[i]);  // bounded by the plan's buffers
  for (size_t i = 1; i < want.size(); ++i) in_count *= size_t(want[i]);
  const bool library_buffer = out.data && (out.flags & kOwnedByLibrary);
  if (out.data && !library_buffer && out.capacity < out_count)
    return fail(CNN_ERROR_BUFFER_TOO_SMALL, "cnn_run: outputs[0] ('" + m.output.name + "') holds " +
                                                std::to_string(out.capacity) + " elements; the result has " +
                                                std::to_string(out_count));
  if (out.data && out.data < in.data + in_count && in.data < out.data + out_count)
    return fail(CNN_ERROR_INVALID_ARGUMENT, "cnn_run: outputs[0].data overlaps inputs[0].data");

  return guarded(CNN_ERROR_INVALID_ARGUMENT, "cnn_run", [&] {
    std::unique_ptr<float, FreeDeleter> allocated;
    float* y = out.data;
    if (!y || (library_buffer && out.capacity < out_count)) {  // none yet, or ours and too small
      allocated.reset(aligned_floats(out_count * sizeof(float)));
      if (!allocated) throw std::bad_alloc();
      y = allocated.get();
    }
    {
      cnnnative::ThreadCountOverride threads(session->threads);
      m.plan->run_with_arena(in.data, batch, y, session->arena.get());
    }
    if (allocated) {
      if (library_buffer) std::free(out.data);
      out.data = allocated.release();
      out.capacity = out_count;
      out.flags |= kOwnedByLibrary;
    }
    out.ndim = int32_t(oshape.size());
    out.shape[0] = batch;
    for (size_t i = 1; i < oshape.size(); ++i) out.shape[i] = oshape[i];
    for (size_t i = oshape.size(); i < CNN_MAX_DIMS; ++i) out.shape[i] = 0;
    return CNN_OK;
  });
}

}  // extern "C"
