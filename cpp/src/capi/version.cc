// cnn_version(): the library's version, passed in by CMake (pyproject.toml's).
#include "cnnnative/cnnnative.h"

#ifndef CNNNATIVE_VERSION
#define CNNNATIVE_VERSION "0.0.0"
#endif

extern "C" const char* cnn_version(void) { return CNNNATIVE_VERSION; }
