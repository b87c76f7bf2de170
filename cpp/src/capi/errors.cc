// The C API's error reporting: a status code per call, the text per thread.
#include <string>

#include "capi/internal.h"

namespace cnnnative::capi {
namespace {
thread_local std::string last_error;
}  // namespace

cnn_status fail(cnn_status status, const std::string& message) {
  try {
    last_error = message;
  } catch (...) {  // no memory for the text: the status still says what happened
    last_error.clear();
  }
  return status;
}

}  // namespace cnnnative::capi

extern "C" {

const char* cnn_last_error(void) { return cnnnative::capi::last_error.c_str(); }

const char* cnn_status_name(cnn_status status) {
  switch (status) {
    case CNN_OK: return "CNN_OK";
    case CNN_ERROR_INVALID_ARGUMENT: return "CNN_ERROR_INVALID_ARGUMENT";
    case CNN_ERROR_IO: return "CNN_ERROR_IO";
    case CNN_ERROR_INVALID_MODEL: return "CNN_ERROR_INVALID_MODEL";
    case CNN_ERROR_SHAPE_MISMATCH: return "CNN_ERROR_SHAPE_MISMATCH";
    case CNN_ERROR_BUFFER_TOO_SMALL: return "CNN_ERROR_BUFFER_TOO_SMALL";
    case CNN_ERROR_OUT_OF_MEMORY: return "CNN_ERROR_OUT_OF_MEMORY";
    case CNN_ERROR_INTERNAL: return "CNN_ERROR_INTERNAL";
  }
  return "CNN_ERROR_UNKNOWN";
}

}  // extern "C"
