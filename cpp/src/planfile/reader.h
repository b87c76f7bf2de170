// A bounds-checked little-endian cursor over one section of a plan file. Every read says
// which field it is, so a truncated or corrupt file yields a message naming the field, the
// section, the offset and the sizes (never an out-of-bounds read).
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

#include "cnnnative/errors.h"

namespace cnnnative::planfile {

class Reader {
 public:
  // [begin, end) of `base`, which the caller checked lies inside the file.
  Reader(const uint8_t* base, int64_t begin, int64_t end, const char* section)
      : base_(base), pos_(begin), end_(end), section_(section) {}

  int64_t pos() const { return pos_; }
  int64_t remaining() const { return end_ - pos_; }
  const char* section() const { return section_; }

  void need(int64_t bytes, const std::string& field) const {
    if (bytes < 0 || bytes > remaining())
      throw std::invalid_argument(concat("plan file: ", section_, " section truncated: ", field, " at offset ", pos_,
                                         " needs ", bytes, " bytes, only ", remaining(), " left"));
  }

  uint64_t u(int bytes, const std::string& field) {
    need(bytes, field);
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | base_[pos_ + i];
    pos_ += bytes;
    return v;
  }
  uint32_t u32(const std::string& field) { return uint32_t(u(4, field)); }
  int32_t i32(const std::string& field) { return int32_t(u32(field)); }
  uint64_t u64(const std::string& field) { return u(8, field); }
  int64_t i64(const std::string& field) { return int64_t(u64(field)); }
  double f64(const std::string& field) {
    const uint64_t bits = u64(field);
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }

  // A count of records each at least `min_record_bytes` long: bounded by what is left, so
  // a huge count is refused before anything is allocated for it.
  int64_t count(const std::string& field, int64_t min_record_bytes, int64_t max_count) {
    const int64_t at = pos_;
    const int64_t n = u32(field);
    if (n > max_count || (min_record_bytes > 0 && n > remaining() / min_record_bytes))
      throw std::invalid_argument(concat("plan file: ", section_, " section: ", field, " = ", n, " at offset ", at,
                                         " is too large (at most ", max_count, ", and ", remaining(),
                                         " bytes left for records of at least ", min_record_bytes, " bytes)"));
    return n;
  }

  // u32 length, then that many bytes of UTF-8 (no NUL bytes).
  std::string str(const std::string& field, int64_t max_len) {
    const int64_t n = count(field + " length", 1, max_len);
    need(n, field);
    std::string s(reinterpret_cast<const char*>(base_ + pos_), size_t(n));
    if (s.find('\0') != std::string::npos)
      throw std::invalid_argument(concat("plan file: ", section_, " section: ", field, " at offset ", pos_,
                                         " contains a NUL byte"));
    pos_ += n;
    return s;
  }

 private:
  const uint8_t* base_;
  int64_t pos_, end_;
  const char* section_;
};

}  // namespace cnnnative::planfile
