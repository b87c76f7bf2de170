/* Latency of cnn_run on one plan, for benchmarks/bench_capi.py.
 *
 *     capi_latency model.cnn input.raw threads warmup repeats
 *
 * input.raw: float32 samples of the model's input (the batch is its size / one sample).
 * Prints one JSON line: median wall and process-CPU milliseconds per run, the model's weight
 * and arena bytes, and this process's peak RSS (VmHWM) in KiB after the runs.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cnnnative/cnnnative.h>

static double now(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int by_value(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static double median(double* v, int n) {
  qsort(v, (size_t)n, sizeof *v, by_value);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static long peak_rss_kib(void) {
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmHWM:", 6) == 0) kib = atol(line + 6);
  if (f) fclose(f);
  return kib;
}

int main(int argc, char** argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: capi_latency model.cnn input.raw threads warmup repeats\n");
    return 2;
  }
  cnn_model* model = NULL;
  if (cnn_model_load_file(argv[1], &model) != CNN_OK) {
    fprintf(stderr, "capi_latency: %s\n", cnn_last_error());
    return 1;
  }
  int64_t shape[CNN_MAX_DIMS];
  size_t ndim = 0, per_sample = 1, weights = 0, arena = 0;
  cnn_model_input_shape(model, 0, shape, CNN_MAX_DIMS, &ndim);
  cnn_model_memory(model, &weights, &arena);
  for (size_t i = 1; i < ndim; ++i) per_sample *= (size_t)shape[i];

  FILE* f = fopen(argv[2], "rb");
  if (!f) {
    perror(argv[2]);
    return 1;
  }
  fseek(f, 0, SEEK_END);
  size_t count = (size_t)ftell(f) / sizeof(float);
  fseek(f, 0, SEEK_SET);
  cnn_tensor in = {0}, out = {0};
  in.data = malloc(count * sizeof(float));
  if (!in.data || fread(in.data, sizeof(float), count, f) != count) return 1;
  fclose(f);
  in.ndim = (int32_t)ndim;
  in.shape[0] = (int64_t)(count / per_sample);
  for (size_t i = 1; i < ndim; ++i) in.shape[i] = shape[i];

  cnn_session_options options;
  cnn_session_options_init(&options);
  options.num_threads = atoi(argv[3]);
  cnn_session* session = NULL;
  if (cnn_session_create(model, &options, &session) != CNN_OK) {
    fprintf(stderr, "capi_latency: %s\n", cnn_last_error());
    return 1;
  }
  int warmup = atoi(argv[4]), repeats = atoi(argv[5]);
  double* wall = malloc(sizeof(double) * (size_t)repeats);
  double* cpu = malloc(sizeof(double) * (size_t)repeats);
  for (int i = 0; i < warmup + repeats; ++i) {
    double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    if (cnn_run(session, &in, 1, &out, 1) != CNN_OK) {
      fprintf(stderr, "capi_latency: %s\n", cnn_last_error());
      return 1;
    }
    double w1 = now(CLOCK_MONOTONIC), c1 = now(CLOCK_PROCESS_CPUTIME_ID);
    if (i >= warmup) {
      wall[i - warmup] = w1 - w0;
      cpu[i - warmup] = c1 - c0;
    }
  }
  printf("{\"wall_ms\": %.4f, \"cpu_ms\": %.4f, \"weight_bytes\": %zu, \"arena_bytes\": %zu, \"peak_rss_kib\": %ld}\n",
         median(wall, repeats), median(cpu, repeats), weights, arena, peak_rss_kib());
  cnn_tensor_free(&out);
  cnn_session_free(session);
  cnn_model_free(model);
  free(in.data);
  free(wall);
  free(cpu);
  return 0;
}
