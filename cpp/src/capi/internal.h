// What the C API's handles hold, and the guard that turns C++ exceptions into statuses.
#pragma once
#include <exception>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

#include "cnnnative/cnnnative.h"
#include "cnnnative/engine.h"
#include "cnnnative/plan_file.h"

namespace cnnnative::capi {

// The loaded plan; shared by the model handle and its sessions (a session keeps it alive).
struct ModelData {
  std::unique_ptr<engine::Plan> plan;
  planfile::TensorSpec input, output;
};

// Records `message` as this thread's last error and returns `status`.
cnn_status fail(cnn_status status, const std::string& message);

// Runs body() (returning cnn_status) and maps any exception to a status and message:
// std::invalid_argument / std::overflow_error -> `invalid` (what the caller's context
// makes of a failed check: a bad model while loading, a bad argument otherwise),
// std::bad_alloc -> out of memory, anything else -> internal.
template <typename Body>
cnn_status guarded(cnn_status invalid, const char* where, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return fail(CNN_ERROR_OUT_OF_MEMORY, std::string(where) + ": out of memory");
  } catch (const std::invalid_argument& e) {
    return fail(invalid, std::string(where) + ": " + e.what());
  } catch (const std::overflow_error& e) {
    return fail(invalid, std::string(where) + ": " + e.what());
  } catch (const std::length_error& e) {  // a size std::vector refuses: as good as out of memory
    return fail(CNN_ERROR_OUT_OF_MEMORY, std::string(where) + ": " + e.what());
  } catch (const std::exception& e) {
    return fail(CNN_ERROR_INTERNAL, std::string(where) + ": " + e.what());
  } catch (...) {
    return fail(CNN_ERROR_INTERNAL, std::string(where) + ": unknown C++ exception");
  }
}

// Wraps an already loaded plan in a model handle (the loaders, and C++ tests that build a
// Plan in memory). Takes ownership; never throws.
cnn_status make_model(planfile::LoadedPlan loaded, cnn_model** model) noexcept;

}  // namespace cnnnative::capi

// The handles are the C++ objects themselves (the header only declares them).
struct cnn_model {
  std::shared_ptr<const cnnnative::capi::ModelData> data;
};
