#include "phivault/base/bytes.h"

#include <algorithm>

namespace phivault {

std::string ToHex(ByteSpan data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(data.size() * 2, '0');
  for (size_t i = 0; i < data.size(); ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0x0f];
  }
  return out;
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Result<Bytes> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return InvalidArgumentError("hex string has odd length");
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return InvalidArgumentError("not a hex string");
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

void StoreLE32(uint8_t* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}
void StoreLE64(uint8_t* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}
void StoreBE64(uint8_t* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out[7 - i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t LoadLE32(const uint8_t* in) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | in[i];
  return v;
}
uint64_t LoadLE64(const uint8_t* in) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | in[i];
  return v;
}

void Encoder::PutU32(uint32_t v) {
  uint8_t b[4];
  StoreLE32(b, v);
  PutRaw(b);
}

void Encoder::PutU64(uint64_t v) {
  uint8_t b[8];
  StoreLE64(b, v);
  PutRaw(b);
}

void Encoder::PutVarint(uint64_t v) {
  while (v >= 0x80) {
    out_->push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out_->push_back(static_cast<uint8_t>(v));
}

void Encoder::PutBytes(ByteSpan data) {
  PutVarint(data.size());
  PutRaw(data);
}

void Encoder::PutTagBytes(uint64_t tag, ByteSpan value) {
  PutVarint(tag);
  PutBytes(value);
}

void Encoder::PutTagVarint(uint64_t tag, uint64_t value) {
  uint8_t buf[10];
  size_t n = 0;
  while (value >= 0x80) {
    buf[n++] = static_cast<uint8_t>(value | 0x80);
    value >>= 7;
  }
  buf[n++] = static_cast<uint8_t>(value);
  PutTagBytes(tag, ByteSpan(buf, n));
}

void Decoder::Fail(std::string_view message) {
  if (!status_.ok()) return;
  std::string m = what_;
  m += ": ";
  m += message;
  m += " at byte ";
  m += std::to_string(pos_);
  status_ = DataLossError(std::move(m));
}

ByteSpan Decoder::GetRaw(size_t n) {
  if (!ok()) return {};
  if (n > remaining()) {
    Fail("truncated");
    return {};
  }
  ByteSpan out = in_.subspan(pos_, n);
  pos_ += n;
  return out;
}

uint8_t Decoder::GetU8() {
  ByteSpan b = GetRaw(1);
  return b.empty() ? 0 : b[0];
}

uint32_t Decoder::GetU32() {
  ByteSpan b = GetRaw(4);
  return b.empty() ? 0 : LoadLE32(b.data());
}

uint64_t Decoder::GetU64() {
  ByteSpan b = GetRaw(8);
  return b.empty() ? 0 : LoadLE64(b.data());
}

uint64_t Decoder::GetVarint() {
  uint64_t v = 0;
  for (int i = 0; i < 10; ++i) {
    if (!ok()) return 0;
    if (pos_ >= in_.size()) {
      Fail("truncated varint");
      return 0;
    }
    uint8_t b = in_[pos_++];
    if (i == 9 && b > 1) {
      Fail("varint overflows 64 bits");
      return 0;
    }
    v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) return v;
  }
  Fail("varint longer than 10 bytes");
  return 0;
}

uint64_t Decoder::GetVarintAtMost(uint64_t max, std::string_view field) {
  uint64_t v = GetVarint();
  if (ok() && v > max) {
    std::string m(field);
    m += " out of range";
    Fail(m);
    return 0;
  }
  return v;
}

ByteSpan Decoder::GetBytes(size_t max_len) {
  uint64_t n = GetVarint();
  if (!ok()) return {};
  if (n > max_len) {
    Fail("byte string too long");
    return {};
  }
  if (n > remaining()) {
    Fail("truncated byte string");
    return {};
  }
  return GetRaw(static_cast<size_t>(n));
}

Status Decoder::Finish() {
  if (ok() && !done()) Fail("trailing bytes");
  return status_;
}

bool TlvReader::Next() {
  if (!dec_.ok() || dec_.done()) return false;
  tag_ = dec_.GetVarint();
  value_ = dec_.GetBytes();
  return dec_.ok();
}

uint64_t TlvReader::VarintValue() {
  Decoder d(value_, "field");
  uint64_t v = d.GetVarint();
  if (!d.Finish().ok()) {
    dec_.Fail("malformed varint field");
    return 0;
  }
  return v;
}

int64_t TlvReader::I64Value() {
  if (value_.size() != 8) {
    dec_.Fail("malformed i64 field");
    return 0;
  }
  return static_cast<int64_t>(LoadLE64(value_.data()));
}

uint32_t TlvReader::U32Value() {
  if (value_.size() != 4) {
    dec_.Fail("malformed u32 field");
    return 0;
  }
  return LoadLE32(value_.data());
}

}  // namespace phivault
