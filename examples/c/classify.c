/* classify: run a plan file (cnnnative.export_plan) on one image and print the top 5.
 *
 *     classify model.cnn image.raw [threads]
 *
 * image.raw holds one image as raw float32 values (native byte order), C x H x W in the
 * model's input layout, already normalised as the model expects, e.g. from numpy:
 * x.astype(np.float32).tofile("image.raw"). Prints "rank class score" lines, best first.
 *
 * Build: cc classify.c $(python -m cnnnative --cflags --libs) -o classify
 *        or CMake: find_package(cnnnative CONFIG) and target cnnnative::cnnnative (see CMakeLists.txt)
 */
#include <stdio.h>
#include <stdlib.h>

#include <cnnnative/cnnnative.h>

#define TOP 5

static int fail(const char* what, cnn_status status) {
  fprintf(stderr, "classify: %s: %s (%s)\n", what, cnn_last_error(), cnn_status_name(status));
  return 1;
}

/* Reads exactly `count` floats from `path`. */
static float* read_image(const char* path, size_t count) {
  FILE* f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return NULL;
  }
  float* data = malloc(count * sizeof(float));
  size_t got = data ? fread(data, sizeof(float), count, f) : 0;
  int extra = fgetc(f) != EOF;
  fclose(f);
  if (!data || got != count || extra) {
    fprintf(stderr, "classify: %s must hold exactly %zu float32 values (%zu bytes)\n", path, count,
            count * sizeof(float));
    free(data);
    return NULL;
  }
  return data;
}

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: classify model.cnn image.raw [threads]\n");
    return 2;
  }
  cnn_status st;
  cnn_model* model = NULL;
  if ((st = cnn_model_load_file(argv[1], &model)) != CNN_OK) return fail("loading the model", st);

  /* One image: the model's input shape with batch 1. */
  int64_t shape[CNN_MAX_DIMS];
  size_t ndim = 0;
  cnn_model_input_shape(model, 0, shape, CNN_MAX_DIMS, &ndim);
  cnn_tensor input = {0};
  input.ndim = (int32_t)ndim;
  input.shape[0] = 1;
  size_t count = 1;
  for (size_t i = 1; i < ndim; ++i) {
    input.shape[i] = shape[i];
    count *= (size_t)shape[i];
  }
  input.data = read_image(argv[2], count);
  if (!input.data) {
    cnn_model_free(model);
    return 1;
  }

  cnn_session_options options;
  cnn_session_options_init(&options);
  options.num_threads = argc > 3 ? atoi(argv[3]) : 0;
  cnn_session* session = NULL;
  cnn_tensor output = {0}; /* data NULL: the library allocates the result */
  int rc = 0;
  if ((st = cnn_session_create(model, &options, &session)) != CNN_OK) {
    rc = fail("creating the session", st);
  } else if ((st = cnn_run(session, &input, 1, &output, 1)) != CNN_OK) {
    rc = fail("running the model", st);
  } else {
    /* The TOP largest scores of the one sample, by selection. */
    size_t classes = cnn_tensor_numel(&output);
    size_t best[TOP];
    size_t n = classes < TOP ? classes : TOP;
    for (size_t r = 0; r < n; ++r) {
      size_t pick = (size_t)-1;
      for (size_t c = 0; c < classes; ++c) {
        int taken = 0;
        for (size_t q = 0; q < r; ++q) taken |= best[q] == c;
        if (!taken && (pick == (size_t)-1 || output.data[c] > output.data[pick])) pick = c;
      }
      best[r] = pick;
      printf("%zu %zu %.6g\n", r + 1, pick, output.data[pick]);
    }
  }
  cnn_tensor_free(&output);
  cnn_session_free(session);
  cnn_model_free(model);
  free(input.data);
  return rc;
}
