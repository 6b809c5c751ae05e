// RowBinary encoder (https://clickhouse.com/docs/interfaces/formats/RowBinary): appends
// little-endian values to a caller-owned buffer. Not thread-safe; one writer per buffer.
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

}  // namespace kobs::store
