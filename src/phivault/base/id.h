// Id: the 32-byte identifier of blobs (keyed hashes) and objects (random), with hex conversion,
// ordering and hashing for use as a map key.
//
// Thread safety: a plain value.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "phivault/base/bytes.h"
#include "phivault/base/status.h"

namespace phivault {

struct Id {
  static constexpr size_t kSize = 32;
  std::array<uint8_t, kSize> bytes{};

  // 64 lowercase hex digits.
  std::string Hex() const { return ToHex(bytes); }
  // The first 8 hex digits, for display.
  std::string ShortHex() const { return Hex().substr(0, 8); }
  bool IsZero() const {
    for (uint8_t b : bytes) {
      if (b != 0) return false;
    }
    return true;
  }
  // Parses exactly 64 hex digits.
  static Result<Id> FromHex(std::string_view hex);
  static Id FromSpan(ByteSpan b) {
    Id id;
    if (b.size() == kSize) std::memcpy(id.bytes.data(), b.data(), kSize);
    return id;
  }

  auto operator<=>(const Id&) const = default;
};

// Hash functor for unordered containers. Ids are uniformly distributed (keyed hashes or random
// values), so their first eight bytes are a good hash already.
struct IdHash {
  size_t operator()(const Id& id) const {
    uint64_t h;
    std::memcpy(&h, id.bytes.data(), sizeof h);
    return static_cast<size_t>(h);
  }
};

inline Result<Id> Id::FromHex(std::string_view hex) {
  if (hex.size() != 2 * kSize) return InvalidArgumentError("an id has 64 hex digits");
  PHV_ASSIGN_OR_RETURN(Bytes raw, phivault::FromHex(hex));
  return FromSpan(raw);
}

}  // namespace phivault
