// Loading a plan file into a cnn_model, and what a model says about its inputs and outputs.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "capi/internal.h"

using cnnnative::capi::fail;
using cnnnative::capi::guarded;

namespace cnnnative::capi {

cnn_status make_model(planfile::LoadedPlan loaded, cnn_model** model) noexcept {
  return guarded(CNN_ERROR_INVALID_MODEL, "cnn_model_load", [&] {
    if (!loaded.plan || !loaded.plan->finalized()) return fail(CNN_ERROR_INVALID_MODEL, "the plan is not finalized");
    auto data = std::make_shared<ModelData>();
    data->plan = std::move(loaded.plan);
    data->input = std::move(loaded.input);
    data->output = std::move(loaded.output);
    *model = new cnn_model{std::move(data)};
    return CNN_OK;
  });
}

}  // namespace cnnnative::capi

namespace {

// Whether `path` can be opened and is a regular file: the loader's own refusals of these
// are plain ValueErrors, the C API tells them apart as CNN_ERROR_IO.
cnn_status check_readable(const char* path) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(CNN_ERROR_IO, std::string("cnn_model_load_file: cannot open '") + path + "': " + std::strerror(errno));
  struct stat st;
  const bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  close(fd);
  if (!regular) return fail(CNN_ERROR_IO, std::string("cnn_model_load_file: '") + path + "' is not a regular file");
  return CNN_OK;
}

const cnnnative::planfile::TensorSpec* spec(const cnn_model* model, size_t index, bool input, const char* where,
                                            cnn_status* status) {
  if (!model) {
    *status = fail(CNN_ERROR_INVALID_ARGUMENT, std::string(where) + ": model is NULL");
    return nullptr;
  }
  if (index != 0) {  // plans have one input and one output
    *status = fail(CNN_ERROR_INVALID_ARGUMENT,
                   std::string(where) + ": index " + std::to_string(index) + " is out of range (the model has 1 " +
                       (input ? "input" : "output") + ")");
    return nullptr;
  }
  *status = CNN_OK;
  return input ? &model->data->input : &model->data->output;
}

cnn_status name_of(const cnn_model* model, size_t index, const char** name, bool input, const char* where) {
  cnn_status st;
  const auto* s = spec(model, index, input, where, &st);
  if (!s) return st;
  if (!name) return fail(CNN_ERROR_INVALID_ARGUMENT, std::string(where) + ": name is NULL");
  *name = s->name.c_str();
  return CNN_OK;
}

cnn_status shape_of(const cnn_model* model, size_t index, int64_t* dims, size_t max_dims, size_t* ndim, bool input,
                    const char* where) {
  cnn_status st;
  const auto* s = spec(model, index, input, where, &st);
  if (!s) return st;
  if (!ndim) return fail(CNN_ERROR_INVALID_ARGUMENT, std::string(where) + ": ndim is NULL");
  if (!dims && max_dims > 0) return fail(CNN_ERROR_INVALID_ARGUMENT, std::string(where) + ": dims is NULL");
  if (max_dims < s->shape.size())
    return fail(CNN_ERROR_INVALID_ARGUMENT, std::string(where) + ": the shape has " + std::to_string(s->shape.size()) +
                                                " dimensions, max_dims is " + std::to_string(max_dims));
  for (size_t i = 0; i < s->shape.size(); ++i) dims[i] = s->shape[i];
  *ndim = s->shape.size();
  return CNN_OK;
}

cnn_status count_of(const cnn_model* model, size_t* count, const char* where) {
  if (!model) return fail(CNN_ERROR_INVALID_ARGUMENT, std::string(where) + ": model is NULL");
  if (!count) return fail(CNN_ERROR_INVALID_ARGUMENT, std::string(where) + ": count is NULL");
  *count = 1;
  return CNN_OK;
}

}  // namespace

extern "C" {

cnn_status cnn_model_load_memory(const void* data, size_t size, cnn_model** model) {
  if (!model) return fail(CNN_ERROR_INVALID_ARGUMENT, "cnn_model_load_memory: model is NULL");
  *model = nullptr;
  if (!data) return fail(CNN_ERROR_INVALID_ARGUMENT, "cnn_model_load_memory: data is NULL");
  return guarded(CNN_ERROR_INVALID_MODEL, "cnn_model_load_memory", [&] {
    return cnnnative::capi::make_model(cnnnative::planfile::load_from_memory(data, size), model);
  });
}

cnn_status cnn_model_load_file(const char* path, cnn_model** model) {
  if (!model) return fail(CNN_ERROR_INVALID_ARGUMENT, "cnn_model_load_file: model is NULL");
  *model = nullptr;
  if (!path) return fail(CNN_ERROR_INVALID_ARGUMENT, "cnn_model_load_file: path is NULL");
  const cnn_status st = check_readable(path);
  if (st != CNN_OK) return st;
  // The loader maps the file and hands its pages back as it reads them: the peak is about
  // the plan's weights, not the file plus the weights.
  return guarded(CNN_ERROR_INVALID_MODEL, "cnn_model_load_file", [&] {
    return cnnnative::capi::make_model(cnnnative::planfile::load_from_file(path), model);
  });
}

void cnn_model_free(cnn_model* model) { delete model; }

cnn_status cnn_model_input_count(const cnn_model* model, size_t* count) {
  return count_of(model, count, "cnn_model_input_count");
}
cnn_status cnn_model_output_count(const cnn_model* model, size_t* count) {
  return count_of(model, count, "cnn_model_output_count");
}
cnn_status cnn_model_input_name(const cnn_model* model, size_t index, const char** name) {
  return name_of(model, index, name, true, "cnn_model_input_name");
}
cnn_status cnn_model_output_name(const cnn_model* model, size_t index, const char** name) {
  return name_of(model, index, name, false, "cnn_model_output_name");
}
cnn_status cnn_model_input_shape(const cnn_model* model, size_t index, int64_t* dims, size_t max_dims, size_t* ndim) {
  return shape_of(model, index, dims, max_dims, ndim, true, "cnn_model_input_shape");
}
cnn_status cnn_model_output_shape(const cnn_model* model, size_t index, int64_t* dims, size_t max_dims, size_t* ndim) {
  return shape_of(model, index, dims, max_dims, ndim, false, "cnn_model_output_shape");
}

cnn_status cnn_model_memory(const cnn_model* model, size_t* weight_bytes, size_t* arena_bytes) {
  if (!model) return fail(CNN_ERROR_INVALID_ARGUMENT, "cnn_model_memory: model is NULL");
  if (weight_bytes) *weight_bytes = size_t(model->data->plan->weight_bytes());
  if (arena_bytes) *arena_bytes = size_t(model->data->plan->arena_bytes());
  return CNN_OK;
}

}  // extern "C"
