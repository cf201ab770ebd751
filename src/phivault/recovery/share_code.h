// The text form of a recovery share, for printing on paper and typing back in
// (doc/format/recovery-kit.md, "Text form").
//
//   PHVR1-AEAAC-AQDAQ-CQMBY-IBEFA-WDANB-YHQGB-ABAIU-YJTZM-2COA   (a 2-byte secret)
//
// After the prefix comes RFC 4648 base32 (A-Z and 2-7, no padding) in groups of five, over the
// share's bytes and a 4-byte checksum. The text uses only upper-case letters, digits and '-',
// which QR codes store in their compact alphanumeric mode. The checksum is there to catch typing
// mistakes before the shares are combined; it is not a MAC and protects nothing against a
// deliberate change (the keystore's recovery slot does that).
//
// The text is as secret as the share. EncodeShare returns a plain std::string (phivault's base
// has no wiping string type); it is built in one allocation so no partial copy is left in freed
// memory, and a caller that is done with it should SecureWipe(text.data(), text.size()).
// Thread safety: the functions are safe to call from any thread.
#pragma once

#include <string>
#include <string_view>

#include "phivault/base/bytes.h"
#include "phivault/base/secret.h"
#include "phivault/base/status.h"
#include "phivault/recovery/shamir.h"

namespace phivault::recovery {

// The text prefix, which also carries the version of the text form.
inline constexpr std::string_view kShareTextPrefix = "PHVR1-";
// The version byte at the start of the encoded share.
inline constexpr uint8_t kShareVersion = 1;

// The text form of `share`. REQUIRES: share.y is 1..kMaxSecretSize bytes (as Split and
// DecodeShare guarantee).
std::string EncodeShare(const Share& share);

// Parses a share typed back in. Lower case, spaces, tabs, line breaks and missing or extra '-'
// are accepted. Errors:
//   kInvalidArgument     "not a phivault recovery share" when the prefix is wrong; messages that
//                        start "share has a typo" when a character is not in the alphabet, a
//                        character is missing or extra, or the checksum does not match; a
//                        share whose checksum matches but whose fields are impossible.
//   kFailedPrecondition  a share written by a newer phivault (another version).
// Messages give positions, never characters or values of the share.
Result<Share> DecodeShare(std::string_view text);

namespace internal {

// RFC 4648 base32 without padding, upper case.
std::string Base32Encode(ByteSpan data);
// The inverse of Base32Encode over [A-Z2-7] only (no separators, no lower case). Fails
// (kInvalidArgument) on other characters, on lengths no encoding has, and on non-zero unused
// bits in the last character.
Result<SecretBytes> Base32Decode(std::string_view text);

}  // namespace internal

}  // namespace phivault::recovery
