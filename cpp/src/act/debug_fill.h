// Test aid: when switched on, every output array the ops bindings allocate is filled with
// NaN (indices with -1) before the kernel runs, so an element a kernel forgets to write
// shows up in the tests instead of passing on whatever memory happened to hold.
// Off by default (it costs a pass over the output); tests switch it on.
#pragma once
#include <cstdint>

namespace cnnnative {

void set_debug_fill(bool on);
bool debug_fill();
void poison(float* p, int64_t n);    // NaN-fills when debug_fill() is on
void poison(int64_t* p, int64_t n);  // -1-fills when debug_fill() is on

}  // namespace cnnnative
