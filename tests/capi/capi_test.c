/* The C API from C: every error path, results against Python's, 8 concurrent sessions.
 *
 *     capi_test model.cnn input.raw expected.raw
 *
 * model.cnn: a plan with planned batch 2 (tests/test_capi.py writes it with
 * cnnnative.export_plan); input.raw: 2 samples of its input (float32); expected.raw: Python's
 * output for them. Prints one line per failed check and "capi_test: N checks, 0 failed".
 * Exit status 0 only when every check passed. Built with -Werror; tools/asan-capi runs it
 * under AddressSanitizer + UndefinedBehaviorSanitizer.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cnnnative/cnnnative.h>

static int checks, failures;

#define CHECK(cond)                                                                  \
  do {                                                                               \
    ++checks;                                                                        \
    if (!(cond)) {                                                                   \
      ++failures;                                                                    \
      fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__, __LINE__, \
              #cond, cnn_last_error());                                              \
    }                                                                                \
  } while (0)

/* The call returns `status` and leaves a non-empty message. */
#define EXPECT_STATUS(call, status)                                                      \
  do {                                                                                   \
    cnn_status got_ = (call);                                                            \
    ++checks;                                                                            \
    if (got_ != (status) || (got_ != CNN_OK && cnn_last_error()[0] == '\0')) {           \
      ++failures;                                                                        \
      fprintf(stderr, "%s:%d: %s returned %s, expected %s; last error: '%s'\n", __FILE__, \
              __LINE__, #call, cnn_status_name(got_), cnn_status_name(status), cnn_last_error()); \
    }                                                                                    \
  } while (0)

static unsigned char* read_all(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(2);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char* data = malloc(n > 0 ? (size_t)n : 1);
  if (!data || fread(data, 1, (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "cannot read %s\n", path);
    exit(2);
  }
  fclose(f);
  *size = (size_t)n;
  return data;
}

static void write_all(const char* path, const void* data, size_t size) {
  FILE* f = fopen(path, "wb");
  if (!f || fwrite(data, 1, size, f) != size) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(2);
  }
  fclose(f);
}

static cnn_model* model;
static int64_t in_shape[CNN_MAX_DIMS], out_shape[CNN_MAX_DIMS];
static size_t in_ndim, out_ndim, in_per_sample = 1, out_per_sample = 1;
static float *input, *expected;

static cnn_tensor input_tensor(int64_t batch) {
  cnn_tensor t;
  memset(&t, 0, sizeof t);
  t.data = input;
  t.ndim = (int32_t)in_ndim;
  memcpy(t.shape, in_shape, sizeof in_shape);
  t.shape[0] = batch;
  return t;
}

static float max_abs_diff(const float* a, const float* b, size_t n) {
  float worst = 0;
  for (size_t i = 0; i < n; ++i) {
    float d = fabsf(a[i] - b[i]);
    if (!(d <= worst)) worst = d; /* NaN counts as the worst */
  }
  return worst;
}

static void test_version_and_names(void) {
  CHECK(cnn_version() != NULL && strlen(cnn_version()) >= 5);
  CHECK(strcmp(cnn_status_name(CNN_OK), "CNN_OK") == 0);
  CHECK(strcmp(cnn_status_name(CNN_ERROR_IO), "CNN_ERROR_IO") == 0);
  CHECK(strcmp(cnn_status_name((cnn_status)1234), "CNN_ERROR_UNKNOWN") == 0);
}

static void test_load_errors(const char* model_path, const unsigned char* bytes, size_t size, const char* tmpdir) {
  cnn_model* m = (cnn_model*)&m; /* a non-NULL value a failed load must reset */
  EXPECT_STATUS(cnn_model_load_file(NULL, &m), CNN_ERROR_INVALID_ARGUMENT);
  CHECK(m == NULL);
  EXPECT_STATUS(cnn_model_load_file(model_path, NULL), CNN_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(cnn_model_load_memory(NULL, 10, &m), CNN_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(cnn_model_load_memory(bytes, size, NULL), CNN_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(cnn_model_load_file("/nonexistent/dir/model.cnn", &m), CNN_ERROR_IO);
  CHECK(strstr(cnn_last_error(), "/nonexistent/dir/model.cnn") != NULL);
  EXPECT_STATUS(cnn_model_load_file(tmpdir, &m), CNN_ERROR_IO); /* a directory */
  CHECK(m == NULL);

  char path[4096];
  snprintf(path, sizeof path, "%s/empty.cnn", tmpdir);
  write_all(path, "", 0);
  EXPECT_STATUS(cnn_model_load_file(path, &m), CNN_ERROR_INVALID_MODEL);
  snprintf(path, sizeof path, "%s/text.cnn", tmpdir);
  const char text[] = "this is not a plan file, just some text that is long enough to have a header";
  write_all(path, text, sizeof text);
  EXPECT_STATUS(cnn_model_load_file(path, &m), CNN_ERROR_INVALID_MODEL);
  EXPECT_STATUS(cnn_model_load_memory(text, sizeof text, &m), CNN_ERROR_INVALID_MODEL);
  EXPECT_STATUS(cnn_model_load_memory(bytes, 0, &m), CNN_ERROR_INVALID_MODEL);

  /* A truncated file, from disk, and every prefix (strided on big files) from memory. */
  snprintf(path, sizeof path, "%s/truncated.cnn", tmpdir);
  write_all(path, bytes, size / 2);
  EXPECT_STATUS(cnn_model_load_file(path, &m), CNN_ERROR_INVALID_MODEL);
  size_t step = size / 1500 + 1;
  int loaded_prefix = 0;
  for (size_t n = 0; n < size; n += step) {
    unsigned char* copy = malloc(n ? n : 1); /* exactly n bytes: ASan sees any read past them */
    memcpy(copy, bytes, n);
    cnn_status st = cnn_model_load_memory(copy, n, &m);
    if (st == CNN_OK) {
      loaded_prefix = 1;
      cnn_model_free(m);
    } else if (st != CNN_ERROR_INVALID_MODEL) {
      loaded_prefix = 2;
    }
    free(copy);
  }
  CHECK(loaded_prefix == 0);

  /* Corrupt bytes: one flipped byte at a time (every header byte, the rest strided). The
     CRC-32 covers every byte after the 64-byte header (docs/plan_format.md), so those
     loads must fail; a header byte the reader may accept (the minor version, reserved
     bytes) may load, but nothing crashes. */
  unsigned char* copy = malloc(size);
  int wrong_status = 0, corrupt_loaded = 0;
  for (size_t i = 0; i < size; i += i < 64 ? 1 : size / 700 + 1) {
    memcpy(copy, bytes, size);
    copy[i] ^= 0x5a;
    cnn_status st = cnn_model_load_memory(copy, size, &m);
    if (st == CNN_OK) {
      corrupt_loaded += i >= 64;
      cnn_model_free(m);
    } else if (st != CNN_ERROR_INVALID_MODEL) {
      ++wrong_status;
    }
  }
  free(copy);
  CHECK(wrong_status == 0);
  CHECK(corrupt_loaded == 0);
}

static void test_queries(void) {
  size_t n = 99;
  const char* name = NULL;
  int64_t dims[CNN_MAX_DIMS];
  size_t nd = 0;
  EXPECT_STATUS(cnn_model_input_count(model, &n), CNN_OK);
  CHECK(n == 1);
  EXPECT_STATUS(cnn_model_output_count(model, &n), CNN_OK);
  CHECK(n == 1);
  EXPECT_STATUS(cnn_model_input_count(NULL, &n), CNN_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(cnn_model_input_count(model, NULL), CNN_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(cnn_model_output_count(NULL, &n), CNN_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(cnn_model_input_name(model, 0, &name), CNN_OK);
  CHECK(name != NULL && name[0] != '\0');
  EXPECT_STATUS(cnn_model_output_name(model, 0, &name), CNN_OK);
  CHECK(name != NULL && name[0] != '\0');
  EXPECT_STATUS(cnn_model_input_name(model, 1, &name), CNN_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(cnn_model_output_name(NULL, 0, &name), CNN_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(cnn_model_input_name(model, 0, NULL), CNN_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(cnn_model_input_shape(model, 1, dims, CNN_MAX_DIMS, &nd), CNN_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(cnn_model_input_shape(model, 0, dims, 1, &nd), CNN_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(cnn_model_input_shape(model, 0, NULL, CNN_MAX_DIMS, &nd), CNN_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(cnn_model_output_shape(model, 0, dims, CNN_MAX_DIMS, NULL), CNN_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(cnn_model_output_shape(NULL, 0, dims, CNN_MAX_DIMS, &nd), CNN_ERROR_INVALID_ARGUMENT);
  size_t weights = 0, arena = 0;
  EXPECT_STATUS(cnn_model_memory(model, &weights, &arena), CNN_OK);
  CHECK(weights > 0);
  EXPECT_STATUS(cnn_model_memory(NULL, &weights, &arena), CNN_ERROR_INVALID_ARGUMENT);
}

static void test_session_errors(void) {
  cnn_session* s = (cnn_session*)&s;
  cnn_session_options o;
  cnn_session_options_init(&o);
  CHECK(o.struct_size == sizeof o && o.num_threads == 0);
  cnn_session_options_init(NULL); /* harmless */
  EXPECT_STATUS(cnn_session_create(NULL, NULL, &s), CNN_ERROR_INVALID_ARGUMENT);
  CHECK(s == NULL);
  EXPECT_STATUS(cnn_session_create(model, NULL, NULL), CNN_ERROR_INVALID_ARGUMENT);
  o.num_threads = -1;
  EXPECT_STATUS(cnn_session_create(model, &o, &s), CNN_ERROR_INVALID_ARGUMENT);
  cnn_session_options_init(&o);
  o.struct_size = 0;
  EXPECT_STATUS(cnn_session_create(model, &o, &s), CNN_ERROR_INVALID_ARGUMENT);
  cnn_session_free(NULL);
  cnn_model_free(NULL);
  cnn_tensor_free(NULL);
}

static void test_run(void) {
  const int64_t planned = in_shape[0];
  cnn_session* s = NULL;
  EXPECT_STATUS(cnn_session_create(model, NULL, &s), CNN_OK);
  if (!s) return;
  cnn_tensor in = input_tensor(planned);
  cnn_tensor out;
  memset(&out, 0, sizeof out);

  /* Argument errors leave the output alone. */
  EXPECT_STATUS(cnn_run(NULL, &in, 1, &out, 1), CNN_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(cnn_run(s, NULL, 1, &out, 1), CNN_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(cnn_run(s, &in, 1, NULL, 1), CNN_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(cnn_run(s, &in, 2, &out, 1), CNN_ERROR_INVALID_ARGUMENT);
  EXPECT_STATUS(cnn_run(s, &in, 1, &out, 0), CNN_ERROR_INVALID_ARGUMENT);
  cnn_tensor bad = in;
  bad.data = NULL;
  EXPECT_STATUS(cnn_run(s, &bad, 1, &out, 1), CNN_ERROR_INVALID_ARGUMENT);
  bad = in;
  bad.shape[0] = planned + 1; /* wrong batch */
  EXPECT_STATUS(cnn_run(s, &bad, 1, &out, 1), CNN_ERROR_SHAPE_MISMATCH);
  bad.shape[0] = 0;
  EXPECT_STATUS(cnn_run(s, &bad, 1, &out, 1), CNN_ERROR_SHAPE_MISMATCH);
  bad.shape[0] = -3;
  EXPECT_STATUS(cnn_run(s, &bad, 1, &out, 1), CNN_ERROR_SHAPE_MISMATCH);
  bad = in;
  bad.shape[in_ndim - 1] += 1; /* wrong sample shape */
  EXPECT_STATUS(cnn_run(s, &bad, 1, &out, 1), CNN_ERROR_SHAPE_MISMATCH);
  bad = in;
  bad.ndim = (int32_t)in_ndim + 1;
  EXPECT_STATUS(cnn_run(s, &bad, 1, &out, 1), CNN_ERROR_SHAPE_MISMATCH);
  bad.ndim = -1;
  EXPECT_STATUS(cnn_run(s, &bad, 1, &out, 1), CNN_ERROR_SHAPE_MISMATCH);
  bad.ndim = 1000;
  EXPECT_STATUS(cnn_run(s, &bad, 1, &out, 1), CNN_ERROR_SHAPE_MISMATCH);
  CHECK(out.data == NULL && out.ndim == 0);

  /* A caller buffer one element too small (wrong buffer size), then the right size. */
  size_t count = (size_t)planned * out_per_sample;
  float* buffer = malloc(count * sizeof(float));
  cnn_tensor mine;
  memset(&mine, 0, sizeof mine);
  mine.data = buffer;
  mine.capacity = count - 1;
  EXPECT_STATUS(cnn_run(s, &in, 1, &mine, 1), CNN_ERROR_BUFFER_TOO_SMALL);
  mine.data = input; /* the input's own memory */
  mine.capacity = count;
  EXPECT_STATUS(cnn_run(s, &in, 1, &mine, 1), CNN_ERROR_INVALID_ARGUMENT);
  mine.data = buffer;
  EXPECT_STATUS(cnn_run(s, &in, 1, &mine, 1), CNN_OK);
  CHECK(mine.ndim == (int32_t)out_ndim && mine.shape[0] == planned);
  CHECK(cnn_tensor_numel(&mine) == count);
  CHECK(max_abs_diff(buffer, expected, count) <= 1e-4f);
  cnn_tensor_free(&mine); /* a caller buffer: left alone */
  CHECK(mine.data == buffer);

  /* A library buffer, reused by the next run, then freed. */
  EXPECT_STATUS(cnn_run(s, &in, 1, &out, 1), CNN_OK);
  CHECK(out.data != NULL && ((size_t)out.data % 64) == 0 && out.capacity == count);
  float* first = out.data;
  CHECK(out.data && memcmp(out.data, buffer, count * sizeof(float)) == 0);
  /* A smaller batch: the first sample's result alone (into the same library buffer). */
  cnn_tensor one = input_tensor(1);
  EXPECT_STATUS(cnn_run(s, &one, 1, &out, 1), CNN_OK);
  CHECK(out.data == first && out.shape[0] == 1);
  CHECK(max_abs_diff(out.data, expected, out_per_sample) <= 1e-4f);
  cnn_tensor_free(&out);
  /* A library buffer too small for the next batch is replaced, not an error. */
  EXPECT_STATUS(cnn_run(s, &one, 1, &out, 1), CNN_OK);
  CHECK(out.capacity == out_per_sample);
  EXPECT_STATUS(cnn_run(s, &in, 1, &out, 1), CNN_OK);
  CHECK(out.capacity == count && out.shape[0] == planned);
  CHECK(out.data && max_abs_diff(out.data, expected, count) <= 1e-4f);
  cnn_tensor_free(&out);
  CHECK(out.data == NULL);
  cnn_tensor_free(&out); /* twice is harmless */
  free(buffer);
  cnn_session_free(s);
}

/* A session keeps its model alive. */
static void test_session_outlives_model(const unsigned char* bytes, size_t size) {
  cnn_model* m = NULL;
  cnn_session* s = NULL;
  EXPECT_STATUS(cnn_model_load_memory(bytes, size, &m), CNN_OK);
  EXPECT_STATUS(cnn_session_create(m, NULL, &s), CNN_OK);
  cnn_model_free(m);
  cnn_tensor in = input_tensor(in_shape[0]), out;
  memset(&out, 0, sizeof out);
  EXPECT_STATUS(cnn_run(s, &in, 1, &out, 1), CNN_OK);
  CHECK(out.data && max_abs_diff(out.data, expected, (size_t)in_shape[0] * out_per_sample) <= 1e-4f);
  cnn_tensor_free(&out);
  cnn_session_free(s);
}

/* 8 threads, each with its own session of the one model, run many times; every result must
   equal the single-threaded reference bit for bit. */
#define THREADS 8
#define RUNS 10
static float* reference;

static void* worker(void* arg) {
  (void)arg;
  long mismatches = 0;
  cnn_session_options o;
  cnn_session_options_init(&o);
  o.num_threads = 1;
  cnn_session* s = NULL;
  if (cnn_session_create(model, &o, &s) != CNN_OK) return (void*)-1L;
  size_t count = (size_t)in_shape[0] * out_per_sample;
  float* y = malloc(count * sizeof(float));
  cnn_tensor in = input_tensor(in_shape[0]), out;
  memset(&out, 0, sizeof out);
  out.data = y;
  out.capacity = count;
  for (int r = 0; r < RUNS; ++r) {
    memset(y, 0xff, count * sizeof(float));
    if (cnn_run(s, &in, 1, &out, 1) != CNN_OK || memcmp(y, reference, count * sizeof(float)) != 0) ++mismatches;
  }
  free(y);
  cnn_session_free(s);
  return (void*)mismatches;
}

static void test_concurrent_sessions(void) {
  cnn_session_options o;
  cnn_session_options_init(&o);
  o.num_threads = 1;
  cnn_session* s = NULL;
  EXPECT_STATUS(cnn_session_create(model, &o, &s), CNN_OK);
  size_t count = (size_t)in_shape[0] * out_per_sample;
  reference = malloc(count * sizeof(float));
  cnn_tensor in = input_tensor(in_shape[0]), out;
  memset(&out, 0, sizeof out);
  out.data = reference;
  out.capacity = count;
  EXPECT_STATUS(cnn_run(s, &in, 1, &out, 1), CNN_OK);
  cnn_session_free(s);

  pthread_t threads[THREADS];
  for (int t = 0; t < THREADS; ++t) CHECK(pthread_create(&threads[t], NULL, worker, NULL) == 0);
  long total = 0;
  for (int t = 0; t < THREADS; ++t) {
    void* r = NULL;
    pthread_join(threads[t], &r);
    total += (long)r;
  }
  CHECK(total == 0);
  free(reference);
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: capi_test model.cnn input.raw expected.raw tmpdir\n");
    return 2;
  }
  size_t size = 0, n = 0;
  unsigned char* bytes = read_all(argv[1], &size);
  input = (float*)read_all(argv[2], &n);
  expected = (float*)read_all(argv[3], &n);

  test_version_and_names();
  test_load_errors(argv[1], bytes, size, argv[4]);
  EXPECT_STATUS(cnn_model_load_file(argv[1], &model), CNN_OK);
  if (!model) return 1;
  EXPECT_STATUS(cnn_model_input_shape(model, 0, in_shape, CNN_MAX_DIMS, &in_ndim), CNN_OK);
  EXPECT_STATUS(cnn_model_output_shape(model, 0, out_shape, CNN_MAX_DIMS, &out_ndim), CNN_OK);
  for (size_t i = 1; i < in_ndim; ++i) in_per_sample *= (size_t)in_shape[i];
  for (size_t i = 1; i < out_ndim; ++i) out_per_sample *= (size_t)out_shape[i];
  CHECK(in_shape[0] == 2 && out_shape[0] == 2);

  test_queries();
  test_session_errors();
  test_run();
  test_session_outlives_model(bytes, size);
  test_concurrent_sessions();
  cnn_model_free(model);
  free(bytes);
  free(input);
  free(expected);
  printf("capi_test: %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
