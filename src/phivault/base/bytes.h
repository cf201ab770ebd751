// Byte buffers and the binary encodings shared by every on-disk format (doc/format/README.md):
// little-endian fixed-width integers, LEB128 varints, length-prefixed byte strings and TLV
// records.
//
// Encoder appends to a Bytes buffer it does not own. Decoder reads from a span it does not own
// and treats the bytes as untrusted: every read is bounds-checked and a malformed or truncated
// input yields a kDataLoss status, never an assertion. Decoder keeps the first error; later reads
// on a failed decoder return zero values, so a caller may decode a whole record and check
// status() once at the end.
//
// Thread safety: none; one thread per Encoder or Decoder.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "phivault/base/status.h"

namespace phivault {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;
using MutableByteSpan = std::span<uint8_t>;

inline ByteSpan AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsStringView(ByteSpan b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Lowercase hexadecimal of `data`.
std::string ToHex(ByteSpan data);
// Parses an even-length hex string (either case). kInvalidArgument otherwise.
Result<Bytes> FromHex(std::string_view hex);

void StoreLE32(uint8_t* out, uint32_t v);
void StoreLE64(uint8_t* out, uint64_t v);
void StoreBE64(uint8_t* out, uint64_t v);
uint32_t LoadLE32(const uint8_t* in);
uint64_t LoadLE64(const uint8_t* in);

class Encoder {
 public:
  explicit Encoder(Bytes* out) : out_(out) {}

  void PutU8(uint8_t v) { out_->push_back(v); }
  void PutU32(uint32_t v);
  void PutU64(uint64_t v);
  void PutI64(int64_t v) { PutU64(static_cast<uint64_t>(v)); }
  void PutVarint(uint64_t v);
  // Raw bytes, no length prefix.
  void PutRaw(ByteSpan data) { out_->insert(out_->end(), data.begin(), data.end()); }
  // A varint length followed by the bytes.
  void PutBytes(ByteSpan data);
  void PutBytes(std::string_view s) { PutBytes(AsBytes(s)); }

  // TLV fields: varint tag, then the value as `bytes`.
  void PutTagBytes(uint64_t tag, ByteSpan value);
  void PutTagBytes(uint64_t tag, std::string_view value) { PutTagBytes(tag, AsBytes(value)); }
  void PutTagVarint(uint64_t tag, uint64_t value);

  size_t size() const { return out_->size(); }

 private:
  Bytes* out_;
};

class Decoder {
 public:
  // `what` names the object being decoded; it prefixes error messages.
  Decoder(ByteSpan in, std::string_view what) : in_(in), what_(what) {}

  uint8_t GetU8();
  uint32_t GetU32();
  uint64_t GetU64();
  int64_t GetI64() { return static_cast<int64_t>(GetU64()); }
  uint64_t GetVarint();
  // A varint that must be at most `max`.
  uint64_t GetVarintAtMost(uint64_t max, std::string_view field);
  // `n` raw bytes; an empty span on error.
  ByteSpan GetRaw(size_t n);
  // A varint length (at most `max_len`) followed by that many bytes.
  ByteSpan GetBytes(size_t max_len = SIZE_MAX);
  template <size_t N>
  std::array<uint8_t, N> GetArray() {
    std::array<uint8_t, N> out{};
    ByteSpan b = GetRaw(N);
    if (b.size() == N) std::copy(b.begin(), b.end(), out.begin());
    return out;
  }

  // Records `message` as the decoder's error unless an earlier one exists.
  void Fail(std::string_view message);

  bool done() const { return pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }
  size_t position() const { return pos_; }
  bool ok() const { return status_.ok(); }
  // The first error, or OK.
  const Status& status() const { return status_; }
  // OK only if no error occurred and every byte was consumed.
  Status Finish();

 private:
  ByteSpan in_;
  size_t pos_ = 0;
  std::string what_;
  Status status_;
};

// Iterates over the fields of a TLV record.
//
//   TlvReader r(record, "snapshot 3fa4…");
//   while (r.Next()) {
//     switch (r.tag()) { case 1: ...r.value()...; }
//   }
//   PHV_RETURN_IF_ERROR(r.status());
class TlvReader {
 public:
  TlvReader(ByteSpan record, std::string_view what) : dec_(record, what) {}

  // Advances to the next field. False at the end of the record or on error.
  bool Next();
  uint64_t tag() const { return tag_; }
  ByteSpan value() const { return value_; }

  // Value helpers; they record an error on the reader if the value is malformed.
  uint64_t VarintValue();
  int64_t I64Value();
  uint32_t U32Value();
  template <size_t N>
  std::array<uint8_t, N> ArrayValue() {
    std::array<uint8_t, N> out{};
    if (value_.size() != N) {
      dec_.Fail("field has the wrong length");
    } else {
      std::copy(value_.begin(), value_.end(), out.begin());
    }
    return out;
  }
  void Fail(std::string_view message) { dec_.Fail(message); }

  const Status& status() const { return dec_.status(); }

 private:
  Decoder dec_;
  uint64_t tag_ = 0;
  ByteSpan value_;
};

}  // namespace phivault
