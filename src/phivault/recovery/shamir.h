// Shamir's secret sharing over GF(256): the arithmetic behind a recovery kit
// (doc/format/recovery-kit.md).
//
// A recovery kit splits a recovery secret into `count` shares, any `threshold` of which give the
// secret back and fewer of which say nothing about it. Each byte of the secret is the constant
// term of its own random polynomial of degree threshold - 1; share x holds every polynomial's
// value at x. The combined secret opens the keystore's recovery slot; a share by itself opens
// nothing.
//
// Why this is written here and not taken from OpenSSL: the house rule is that crypto comes from
// OpenSSL, but OpenSSL has no secret sharing, and the kit format is defined as Shamir over
// GF(256) so that a share is exactly as long as the secret and can be typed in. What is written
// here is only field arithmetic and Lagrange interpolation; the randomness is OpenSSL's
// (crypto::RandomBytes).
//
// Why it is constant-time: the y values and the polynomial coefficients are secret, and the
// usual log/exp-table implementation of GF(256) indexes memory with them, which leaks through
// the cache. Mul() is a shift-and-add multiply whose conditional steps are masks, and Inv() is
// a^254 with a fixed sequence of Mul() calls, so neither has a branch or an address that depends
// on its operands. The share coordinates x are public (they are printed on each share), so code
// that branches on x, or on how many shares there are, leaks nothing.
//
// Ownership: shares own their y values in SecretBytes, wiped on destruction. Coefficient
// buffers are wiped before they are released.
// Thread safety: every function is safe to call from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "phivault/base/bytes.h"
#include "phivault/base/secret.h"
#include "phivault/base/status.h"

namespace phivault::recovery {

using KitId = std::array<uint8_t, 16>;

// Length limits of the secret (and so of each share's y).
inline constexpr size_t kMinSecretSize = 1;
inline constexpr size_t kMaxSecretSize = 64;

// The size of the recovery secret phivault generates for a keystore's recovery slot.
inline constexpr size_t kRecoverySecretSize = 32;

struct Share {
  // Random per kit: ties a kit's shares together and names the keystore slot. Public.
  KitId kit_id{};
  // K, 2..255: how many shares recover the secret. Public.
  uint8_t threshold = 0;
  // N, threshold..255: how many shares the kit has. Public.
  uint8_t count = 0;
  // 1..count: the point this share's values were taken at, its number in the kit. Public.
  uint8_t x = 0;
  // The polynomials' values at x, as long as the secret. Secret.
  SecretBytes y;
};

// Splits `secret` (kMinSecretSize..kMaxSecretSize bytes) into `count` shares numbered 1..count,
// any `threshold` of which recover it. The coefficients come from crypto::RandomBytes and are
// uniform over the whole field (a zero leading coefficient is allowed: excluding it would make
// some secrets less likely than others to a holder of threshold - 1 shares).
// kInvalidArgument for threshold < 2, count < threshold, count > 255 and a secret that is empty
// or too long; kInternal if the random generator fails.
Result<std::vector<Share>> Split(ByteSpan secret, const KitId& kit, int threshold, int count);

// Recovers the secret from the shares of one kit by Lagrange interpolation at 0.
//
// Exactly the first `threshold` distinct shares (in the order given) determine the secret. Any
// further shares are not used for it but checked: each must lie on the polynomials the first
// ones define, and one that does not fails the whole call, because it means some share (the
// extra one or one of the first) is damaged. With exactly `threshold` shares no such check is
// possible; a damaged share then yields a wrong secret, which the keystore's recovery slot
// refuses when its authentication tag does not verify.
//
// A share repeated with identical y counts once. Errors, worded for the person typing shares in:
//   kFailedPrecondition  fewer distinct shares than the threshold ("this kit needs 3 shares;
//                        got 2 ...") or none at all;
//   kInvalidArgument     shares of different kits, different threshold or count, different y
//                        lengths, two different shares with the same number, a share number
//                        outside 1..count, or an extra share that is not consistent.
// Messages name shares by their number and never contain share values.
Result<SecretBytes> Combine(const std::vector<Share>& shares);

// The field GF(2^8) with the AES reduction polynomial x^8 + x^4 + x^3 + x + 1 (0x11B):
// addition is XOR. Exposed for the tests and for the documentation of the format.
namespace gf256 {

// a · b, in constant time.
uint8_t Mul(uint8_t a, uint8_t b);
// The multiplicative inverse of a (a^254), in constant time. Inv(0) is 0.
uint8_t Inv(uint8_t a);
// The polynomial with coefficients `coeffs` (constant term first) evaluated at x.
uint8_t Eval(std::span<const uint8_t> coeffs, uint8_t x);
// The Lagrange basis at `at` for the points xs: out[i] = prod_{j != i} (at - xs[j]) / (xs[i] -
// xs[j]), so that P(at) = sum_i out[i] · P(xs[i]) for every polynomial P of degree below
// xs.size(). REQUIRES: the xs are distinct and out.size() == xs.size().
void LagrangeBasis(std::span<const uint8_t> xs, uint8_t at, std::span<uint8_t> out);
// The value at `at` of the polynomial of degree below xs.size() through the points (xs[i],
// ys[i]). REQUIRES: the xs are distinct and ys.size() == xs.size().
uint8_t InterpolateAt(std::span<const uint8_t> xs, std::span<const uint8_t> ys, uint8_t at);

}  // namespace gf256

namespace internal {

// Split() with the coefficients given instead of drawn, for known-answer tests only. The
// polynomial of secret byte i is secret[i] + sum_{j=1}^{threshold-1} c[i*(threshold-1) + j-1] x^j;
// `coefficients` must hold secret.size() * (threshold - 1) bytes (kInvalidArgument otherwise).
Result<std::vector<Share>> SplitWithCoefficients(ByteSpan secret, const KitId& kit, int threshold,
                                                 int count, ByteSpan coefficients);

}  // namespace internal

}  // namespace phivault::recovery
