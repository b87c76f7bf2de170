/* cnnnative's C API: run a compiled model (a plan file written by Python's
 * cnnnative.export_plan) from C or C++, without Python.
 *
 *     cnn_model* model;
 *     if (cnn_model_load_file("model.cnn", &model) != CNN_OK) {
 *       fprintf(stderr, "%s\n", cnn_last_error());
 *       return 1;
 *     }
 *     cnn_session* session;
 *     cnn_session_create(model, NULL, &session);        // NULL: default options
 *     cnn_tensor in = {0}, out = {0};                     // out.data NULL: the library allocates
 *     in.data = pixels; in.ndim = 4;                      // (N, C, H, W), N <= the planned batch
 *     in.shape[0] = 1; in.shape[1] = 3; in.shape[2] = 224; in.shape[3] = 224;
 *     cnn_run(session, &in, 1, &out, 1);
 *     ... out.data[0 .. out.shape[0] * out.shape[1]) ...
 *     cnn_tensor_free(&out);
 *     cnn_session_free(session);
 *     cnn_model_free(model);
 *
 * Conventions
 *   - Tensors are float32, dense, row-major (C order), NCHW for images; shape[0] is the batch.
 *   - Every function that can fail returns a cnn_status; on failure it leaves its output
 *     arguments unchanged (or NULL) and cnn_last_error() says what went wrong.
 *   - No C++ exception, abort or exit crosses this interface: bad arguments, unreadable,
 *     truncated or corrupt files, and out-of-memory are all status codes.
 *   - Link: -lcnnnative (shared). The static libcnnnative.a also needs the C++ and thread
 *     runtimes at link time: -lcnnnative -lpthread -lstdc++ -lm (pkg-config --static
 *     cnnnative, or CMake's cnnnative::cnnnative_static, add them for you).
 *
 * Thread safety
 *   - A cnn_model is immutable once loaded: any number of threads may use it at once, in
 *     particular to create sessions and query names and shapes.
 *   - A cnn_session holds the scratch memory (arena) of one run at a time: use each session
 *     from one thread at a time (create one session per concurrent caller). Different
 *     sessions of the same model may run concurrently.
 *   - A session keeps its model alive: cnn_model_free may be called while sessions exist;
 *     the model's memory is released with its last session.
 *   - cnn_last_error() is per thread.
 *   - Each session's runs use its own thread count (cnn_session_options.num_threads) for
 *     their parallel regions; concurrent sessions together use the sum of their counts.
 *     Convolutions use at most the default count the model was loaded with (their scratch
 *     memory is planned for it): set OMP_NUM_THREADS before loading to plan for more.
 */
#ifndef CNNNATIVE_CNNNATIVE_H
#define CNNNATIVE_CNNNATIVE_H

#include <stddef.h>
#include <stdint.h>

#if defined(CNN_BUILDING_LIBRARY)
#define CNN_API __attribute__((visibility("default")))
#else
#define CNN_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header; cnn_version() gives the library's. */
#define CNN_VERSION_MAJOR 0
#define CNN_VERSION_MINOR 1
#define CNN_VERSION_PATCH 0

/* The most dimensions a tensor of this API has. */
#define CNN_MAX_DIMS 8

typedef enum cnn_status {
  CNN_OK = 0,
  CNN_ERROR_INVALID_ARGUMENT = 1, /* a NULL pointer, an index out of range, bad options */
  CNN_ERROR_IO = 2,               /* the file cannot be opened or read */
  CNN_ERROR_INVALID_MODEL = 3,    /* not a plan file, or a corrupt, truncated or unsupported one */
  CNN_ERROR_SHAPE_MISMATCH = 4,   /* an input's shape differs from the model's, or batch > planned */
  CNN_ERROR_BUFFER_TOO_SMALL = 5, /* an output buffer holds fewer elements than the result */
  CNN_ERROR_OUT_OF_MEMORY = 6,
  CNN_ERROR_INTERNAL = 7 /* a bug: please report it with cnn_last_error()'s text */
} cnn_status;

typedef struct cnn_model cnn_model;     /* a loaded plan: weights and the graph */
typedef struct cnn_session cnn_session; /* what one caller needs to run a model */

/* A dense float32 tensor. Inputs: data, ndim and shape describe the caller's array.
 * Outputs: either data points at a caller buffer of `capacity` elements, or data is NULL
 * and cnn_run allocates one (64-byte aligned) that cnn_tensor_free releases; cnn_run sets
 * ndim and shape. Zero-initialise before first use: cnn_tensor t = {0}; */
typedef struct cnn_tensor {
  float* data;
  size_t capacity;               /* elements available at data (outputs given by the caller) */
  int32_t ndim;
  int32_t flags;                 /* set by the library; do not change */
  int64_t shape[CNN_MAX_DIMS];
} cnn_tensor;

typedef struct cnn_session_options {
  size_t struct_size;  /* sizeof(cnn_session_options): lets the library grow this struct */
  int32_t num_threads; /* threads of this session's runs; 0: the library default (OMP_NUM_THREADS,
                          else the CPUs this process may run on) */
} cnn_session_options;

/* The library's version, "MAJOR.MINOR.PATCH"; a static string. */
CNN_API const char* cnn_version(void);

/* What the last failing call on this thread said (a static "" if none did). The text is
 * valid until the next failing cnn_* call on this thread. */
CNN_API const char* cnn_last_error(void);

/* A short fixed name of a status: "CNN_OK", "CNN_ERROR_IO", ... */
CNN_API const char* cnn_status_name(cnn_status status);

/* Loading. The file (or buffer) is read and checked completely before use; the caller's
 * buffer is not referenced after cnn_model_load_memory returns. */
CNN_API cnn_status cnn_model_load_file(const char* path, cnn_model** model);
CNN_API cnn_status cnn_model_load_memory(const void* data, size_t size, cnn_model** model);
/* Releases the caller's reference; NULL is allowed. */
CNN_API void cnn_model_free(cnn_model* model);

/* Inputs and outputs: count, names (owned by the model) and planned shapes (shape[0] is the
 * planned batch: runs take any batch from 1 to it). `dims` receives up to `max_dims` sizes;
 * *ndim gets the rank (CNN_ERROR_INVALID_ARGUMENT when max_dims is smaller). */
CNN_API cnn_status cnn_model_input_count(const cnn_model* model, size_t* count);
CNN_API cnn_status cnn_model_output_count(const cnn_model* model, size_t* count);
CNN_API cnn_status cnn_model_input_name(const cnn_model* model, size_t index, const char** name);
CNN_API cnn_status cnn_model_output_name(const cnn_model* model, size_t index, const char** name);
CNN_API cnn_status cnn_model_input_shape(const cnn_model* model, size_t index, int64_t* dims, size_t max_dims,
                                         size_t* ndim);
CNN_API cnn_status cnn_model_output_shape(const cnn_model* model, size_t index, int64_t* dims, size_t max_dims,
                                          size_t* ndim);
/* Bytes of the weights the model holds, and of one session's arena (scratch). */
CNN_API cnn_status cnn_model_memory(const cnn_model* model, size_t* weight_bytes, size_t* arena_bytes);

/* Sessions. options may be NULL (defaults); otherwise fill it with
 * cnn_session_options_init first. The session allocates its arena here. */
CNN_API void cnn_session_options_init(cnn_session_options* options);
CNN_API cnn_status cnn_session_create(const cnn_model* model, const cnn_session_options* options,
                                      cnn_session** session);
CNN_API void cnn_session_free(cnn_session* session); /* NULL is allowed */

/* Runs the model on inputs[0 .. num_inputs) into outputs[0 .. num_outputs) (counts as
 * cnn_model_input_count / output_count say). Each input's shape must equal the model's
 * except shape[0], the batch: 1 .. the planned batch. Each output's shape becomes
 * (batch, ...). An output with data == NULL gets a buffer from the library (a library buffer
 * from an earlier run is reused, or replaced when the batch needs more); a caller's buffer
 * must have capacity >= the element count. Nothing is written on failure. */
CNN_API cnn_status cnn_run(cnn_session* session, const cnn_tensor* inputs, size_t num_inputs, cnn_tensor* outputs,
                           size_t num_outputs);

/* The number of elements of shape[0 .. ndim): 1 for ndim 0; 0 for NULL, an ndim outside
 * 0 .. CNN_MAX_DIMS, a negative size or an overflow. */
CNN_API size_t cnn_tensor_numel(const cnn_tensor* tensor);
/* Releases a buffer cnn_run allocated and sets data to NULL; leaves caller buffers alone.
 * NULL is allowed. */
CNN_API void cnn_tensor_free(cnn_tensor* tensor);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CNNNATIVE_CNNNATIVE_H */
