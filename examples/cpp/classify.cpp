// classify: the C example (examples/c/classify.c) with the C++ wrapper, cnnnative.hpp.
//
//     classify model.cnn image.raw [threads]
//
// image.raw: one image as raw float32 values, C x H x W in the model's input layout.
// Prints "rank class score" lines, best first.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <numeric>
#include <vector>

#include <cnnnative/cnnnative.hpp>

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::cerr << "usage: classify model.cnn image.raw [threads]\n";
    return 2;
  }
  try {
    cnnnative::Model model(argv[1]);
    std::vector<int64_t> shape = model.input_shape();
    shape[0] = 1;  // one image
    const size_t count = std::accumulate(shape.begin() + 1, shape.end(), size_t(1),
                                         [](size_t a, int64_t b) { return a * size_t(b); });

    std::ifstream file(argv[2], std::ios::binary | std::ios::ate);
    if (!file || size_t(file.tellg()) != count * sizeof(float)) {
      std::cerr << "classify: " << argv[2] << " must hold exactly " << count << " float32 values\n";
      return 1;
    }
    std::vector<float> image(count);
    file.seekg(0);
    file.read(reinterpret_cast<char*>(image.data()), std::streamsize(count * sizeof(float)));

    cnnnative::Session session(model, argc > 3 ? std::atoi(argv[3]) : 0);
    const std::vector<float> scores = session.run(image, shape);

    std::vector<size_t> order(scores.size());
    std::iota(order.begin(), order.end(), size_t(0));
    const size_t top = std::min<size_t>(5, order.size());
    // Ties keep the lower class first, as the C example's selection does.
    std::partial_sort(order.begin(), order.begin() + long(top), order.end(),
                      [&](size_t a, size_t b) { return scores[a] > scores[b] || (scores[a] == scores[b] && a < b); });
    for (size_t r = 0; r < top; ++r) std::printf("%zu %zu %.6g\n", r + 1, order[r], scores[order[r]]);
  } catch (const cnnnative::Error& e) {
    std::cerr << "classify: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
