// RowBinary (https://clickhouse.com/docs/interfaces/formats/RowBinary): an encoder that appends
// little-endian values to a caller-owned buffer, and a decoder for query results. Not
// thread-safe; one writer or reader per buffer.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kobs::store {

class RowBinaryWriter {
 public:
  explicit RowBinaryWriter(std::string* out) : out_(out) {}

  void UInt8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void UInt32(uint32_t v) { Fixed(v); }
  void Int32(int32_t v) { Fixed(v); }
  void UInt64(uint64_t v) { Fixed(v); }
  void Int64(int64_t v) { Fixed(v); }
  void Float64(double v) { Fixed(v); }
  void Bool(bool v) { UInt8(v ? 1 : 0); }
  // DateTime64(9): nanoseconds since the epoch as Int64.
  void DateTime64Nanos(int64_t ns) { Int64(ns); }
  // DateTime: seconds since the epoch as UInt32.
  void DateTime(uint32_t seconds) { UInt32(seconds); }

  void VarUInt(uint64_t v) {
    while (v >= 0x80) {
      out_->push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_->push_back(static_cast<char>(v));
  }
  // String (and LowCardinality(String)): length as VarUInt, then the bytes.
  void String(std::string_view s) {
    VarUInt(s.size());
    out_->append(s.data(), s.size());
  }
  // Map(String, String) from pairs, in the order given (callers sort when it matters).
  template <typename Pairs>
  void StringMap(const Pairs& pairs) {
    VarUInt(std::size(pairs));
    for (const auto& [k, v] : pairs) {
      String(k);
      String(v);
    }
  }
  // Array(T): the element count; the caller then writes each element.
  void ArraySize(size_t n) { VarUInt(n); }

 private:
  template <typename T>
  void Fixed(T v) {
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));  // x86-64 and aarch64 are little-endian
    out_->append(buf, sizeof(T));
  }

  std::string* out_;
};

// Reads RowBinary values from a buffer it does not own. Each Read* returns false (and reads
// nothing more) once the buffer ends short of a whole value.
class RowBinaryReader {
 public:
  explicit RowBinaryReader(std::string_view in) : in_(in) {}

  bool done() const { return in_.empty(); }

  bool VarUInt(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) return false;
      const auto byte = static_cast<uint8_t>(in_.front());
      in_.remove_prefix(1);
      *v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  // A String; `out` points into the buffer.
  bool String(std::string_view* out) {
    uint64_t n;
    if (!VarUInt(&n) || n > in_.size()) return false;
    *out = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool UInt64(uint64_t* v) { return Fixed(v); }
  bool Int64(int64_t* v) { return Fixed(v); }
  bool UInt32(uint32_t* v) { return Fixed(v); }

 private:
  template <typename T>
  bool Fixed(T* v) {
    if (in_.size() < sizeof(T)) return false;
    std::memcpy(v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return true;
  }

  std::string_view in_;
};

}  // namespace kobs::store
