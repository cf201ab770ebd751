#include "phivault/recovery/share_code.h"

#include <algorithm>
#include <array>
#include <vector>

#include "phivault/crypto/crypto.h"

namespace phivault::recovery {
namespace {

constexpr size_t kGroupSize = 5;
constexpr size_t kChecksumSize = 4;
// version, kit id, threshold, count, x, len.
constexpr size_t kHeaderSize = 1 + sizeof(KitId) + 4;
// kShareTextPrefix is "PHVR", the version digit of the text form, and a separator.
constexpr std::string_view kMagic = kShareTextPrefix.substr(0, 4);
constexpr char kTextVersion = kShareTextPrefix[4];

size_t Base32Length(size_t bytes) { return (bytes * 8 + 4) / 5; }

// The share's characters are secret, so the conversions to and from base32 use masks instead of
// a table indexed by the value or branches on it. A mask is -1 (all ones) or 0; `x >> 8` of an
// int in -255..255 is -1 exactly when x is negative.

// The character for a 5-bit value: 'A'..'Z' for 0..25, '2'..'7' for 26..31.
char Base32Char(uint32_t value) {
  int v = static_cast<int>(value);
  int is_digit = (25 - v) >> 8;
  return static_cast<char>('A' + v + (is_digit & ('2' - 26 - 'A')));
}

// The value of a base32 character, or -1.
int Base32Value(char c) {
  int ch = static_cast<unsigned char>(c);
  int is_letter = ~(((ch - 'A') | ('Z' - ch)) >> 8);
  int is_digit = ~(((ch - '2') | ('7' - ch)) >> 8);
  return (is_letter & (ch - 'A')) | (is_digit & (ch - '2' + 26)) | ~(is_letter | is_digit);
}

// c in upper case if it is a lower-case letter, else c.
char ToUpper(char c) {
  int ch = static_cast<unsigned char>(c);
  int is_lower = ~(((ch - 'a') | ('z' - ch)) >> 8);
  return static_cast<char>(ch ^ (is_lower & 0x20));
}

// Appends the base32 of `data` to `out`, with a '-' before every group of `group_size`
// characters after the first (no separators for 0).
void AppendBase32(ByteSpan data, size_t group_size, std::string* out) {
  uint32_t buffer = 0;
  int bits = 0;
  size_t written = 0;
  auto put = [&](uint32_t index) {
    if (group_size != 0 && written != 0 && written % group_size == 0) out->push_back('-');
    out->push_back(Base32Char(index & 31u));
    ++written;
  };
  for (uint8_t byte : data) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      put(buffer >> bits);
    }
    buffer &= (1u << bits) - 1;
  }
  if (bits > 0) put(buffer << (5 - bits));
  buffer = 0;
}

std::array<uint8_t, kChecksumSize> Checksum(ByteSpan data) {
  Id digest = crypto::Sha256(data);
  std::array<uint8_t, kChecksumSize> out{};
  std::copy_n(digest.bytes.begin(), kChecksumSize, out.begin());
  SecureWipe(digest.bytes.data(), digest.bytes.size());
  return out;
}

bool IsSeparator(char c) { return c == '-' || c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// The text without separators, in upper case, and for each character kept its 1-based position
// in the original text (for error messages).
struct NormalizedText {
  SecretBytes chars;
  std::vector<size_t> positions;
};

NormalizedText Normalize(std::string_view text) {
  NormalizedText out{SecretBytes(text.size()), {}};
  out.positions.reserve(text.size());
  size_t n = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    // Branching on separators tells only where they are, which is not secret.
    if (IsSeparator(text[i])) continue;
    out.chars.data()[n++] = static_cast<uint8_t>(ToUpper(text[i]));
    out.positions.push_back(i + 1);
  }
  out.chars.Truncate(n);
  return out;
}

Status Malformed(std::string_view what) {
  return InvalidArgumentError("recovery share is malformed: " + std::string(what));
}

// Parses the checked bytes of a share: everything before the checksum.
Result<Share> ParseFields(ByteSpan fields) {
  if (fields[0] != kShareVersion) {
    return FailedPreconditionError("this recovery share has format version " +
                                   std::to_string(fields[0]) + "; this phivault reads version " +
                                   std::to_string(kShareVersion));
  }
  Share share;
  std::copy_n(fields.begin() + 1, share.kit_id.size(), share.kit_id.begin());
  size_t pos = 1 + share.kit_id.size();
  share.threshold = fields[pos];
  share.count = fields[pos + 1];
  share.x = fields[pos + 2];
  size_t len = fields[pos + 3];
  if (share.threshold < 2 || share.count < share.threshold) {
    return Malformed("impossible threshold or share count");
  }
  if (share.x < 1 || share.x > share.count) return Malformed("impossible share number");
  if (len < kMinSecretSize || len > kMaxSecretSize || len != fields.size() - kHeaderSize) {
    return Malformed("wrong length");
  }
  share.y = SecretBytes(fields.subspan(kHeaderSize));
  return share;
}

}  // namespace

namespace internal {

std::string Base32Encode(ByteSpan data) {
  std::string out;
  out.reserve(Base32Length(data.size()));
  AppendBase32(data, 0, &out);
  return out;
}

Result<SecretBytes> Base32Decode(std::string_view text) {
  // Lengths that are 1, 3 or 6 modulo 8 leave a character with no whole byte in it.
  size_t tail = text.size() % 8;
  if (tail == 1 || tail == 3 || tail == 6) {
    return InvalidArgumentError("base32 text has an impossible length");
  }
  SecretBytes out(text.size() * 5 / 8);
  uint32_t buffer = 0;
  int bits = 0;
  size_t n = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    int value = Base32Value(text[i]);
    if (value < 0) {
      return InvalidArgumentError("base32 text has an invalid character at " +
                                  std::to_string(i + 1));
    }
    buffer = (buffer << 5) | static_cast<uint32_t>(value);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.data()[n++] = static_cast<uint8_t>(buffer >> bits);
      buffer &= (1u << bits) - 1;
    }
  }
  uint32_t unused_bits = buffer;
  buffer = 0;
  if (unused_bits != 0) return InvalidArgumentError("base32 text has non-zero unused bits");
  return out;
}

}  // namespace internal

std::string EncodeShare(const Share& share) {
  SecretBytes bytes(kHeaderSize + share.y.size() + kChecksumSize);
  uint8_t* p = bytes.data();
  *p++ = kShareVersion;
  p = std::copy(share.kit_id.begin(), share.kit_id.end(), p);
  *p++ = share.threshold;
  *p++ = share.count;
  *p++ = share.x;
  *p++ = static_cast<uint8_t>(share.y.size());
  p = std::copy_n(share.y.data(), share.y.size(), p);
  auto checksum = Checksum(bytes.span().first(kHeaderSize + share.y.size()));
  std::copy(checksum.begin(), checksum.end(), p);

  // One allocation of the final size, so that no shorter copy of the text is freed unwiped.
  size_t chars = Base32Length(bytes.size());
  std::string text;
  text.reserve(kShareTextPrefix.size() + chars + (chars - 1) / kGroupSize);
  text.append(kShareTextPrefix);
  AppendBase32(bytes.span(), kGroupSize, &text);
  return text;
}

Result<Share> DecodeShare(std::string_view text) {
  NormalizedText normalized = Normalize(text);
  std::string_view chars = AsStringView(normalized.chars.span());
  if (!chars.starts_with(kMagic) || chars.size() == kMagic.size() || chars[kMagic.size()] < '0' ||
      chars[kMagic.size()] > '9') {
    return InvalidArgumentError("not a phivault recovery share (it must start with " +
                                std::string(kShareTextPrefix) + ")");
  }
  if (char version = chars[kMagic.size()]; version != kTextVersion) {
    return FailedPreconditionError("this recovery share was written in text version " +
                                   std::string(1, version) + "; this phivault reads version " +
                                   std::string(1, kTextVersion));
  }

  std::string_view body = chars.substr(kMagic.size() + 1);
  for (size_t i = 0; i < body.size(); ++i) {
    if (Base32Value(body[i]) < 0) {
      return InvalidArgumentError(
          "share has a typo at character " +
          std::to_string(normalized.positions[kMagic.size() + 1 + i]) +
          ": a share uses only the letters A to Z and the digits 2 to 7 after its prefix");
    }
  }
  if (Base32Length(kHeaderSize + kMinSecretSize + kChecksumSize) > body.size()) {
    return InvalidArgumentError("share has a typo: it is too short (characters are missing)");
  }
  auto bytes = internal::Base32Decode(body);
  if (!bytes.ok()) {
    // The characters are valid, so the length or the last character is off.
    return InvalidArgumentError(
        "share has a typo: a character is missing, extra or wrong at the end");
  }

  ByteSpan all = bytes->span();
  ByteSpan fields = all.first(all.size() - kChecksumSize);
  auto expected = Checksum(fields);
  // Compared without an early exit: the checksum is a function of the share's secret bytes.
  uint8_t difference = 0;
  for (size_t i = 0; i < kChecksumSize; ++i) {
    difference |= static_cast<uint8_t>(expected[i] ^ all[fields.size() + i]);
  }
  if (difference != 0) return InvalidArgumentError("share has a typo: checksum mismatch");
  return ParseFields(fields);
}

}  // namespace phivault::recovery
