#include "phivault/recovery/shamir.h"

#include <algorithm>
#include <array>
#include <string>

#include "phivault/crypto/crypto.h"

namespace phivault::recovery {
namespace gf256 {

uint8_t Mul(uint8_t a, uint8_t b) {
  uint32_t multiplicand = a;
  uint32_t multiplier = b;
  uint32_t product = 0;
  for (int bit = 0; bit < 8; ++bit) {
    // 0 - (bit & 1) is all ones or all zeros: the add happens or not without a branch.
    product ^= multiplicand & (0u - (multiplier & 1u));
    // multiplicand · x, reduced by 0x11B when it reaches degree 8, again by mask.
    multiplicand = (multiplicand << 1) ^ (0x11Bu & (0u - (multiplicand >> 7)));
    multiplier >>= 1;
  }
  return static_cast<uint8_t>(product);
}

uint8_t Inv(uint8_t a) {
  // a^254 = a^-1 since a^255 = 1 for a != 0. Each step r -> r^2 · a turns a^(2^k - 1) into
  // a^(2^(k+1) - 1); six steps give a^127, and one more squaring a^254. The sequence of
  // multiplications is the same for every a.
  uint8_t r = a;
  for (int step = 0; step < 6; ++step) r = Mul(Mul(r, r), a);
  return Mul(r, r);
}

uint8_t Eval(std::span<const uint8_t> coeffs, uint8_t x) {
  uint8_t value = 0;
  for (size_t i = coeffs.size(); i-- > 0;) value = Mul(value, x) ^ coeffs[i];
  return value;
}

void LagrangeBasis(std::span<const uint8_t> xs, uint8_t at, std::span<uint8_t> out) {
  for (size_t i = 0; i < xs.size(); ++i) {
    uint8_t numerator = 1;
    uint8_t denominator = 1;
    for (size_t j = 0; j < xs.size(); ++j) {
      if (j == i) continue;
      numerator = Mul(numerator, at ^ xs[j]);
      denominator = Mul(denominator, xs[i] ^ xs[j]);
    }
    out[i] = Mul(numerator, Inv(denominator));
  }
}

uint8_t InterpolateAt(std::span<const uint8_t> xs, std::span<const uint8_t> ys, uint8_t at) {
  std::vector<uint8_t> basis(xs.size());
  LagrangeBasis(xs, at, basis);
  uint8_t value = 0;
  for (size_t i = 0; i < xs.size(); ++i) value ^= Mul(basis[i], ys[i]);
  return value;
}

}  // namespace gf256

namespace {

std::string Num(size_t n) { return std::to_string(n); }

Status CheckSplitParameters(ByteSpan secret, int threshold, int count) {
  if (secret.size() < kMinSecretSize || secret.size() > kMaxSecretSize) {
    return InvalidArgumentError("a recovery secret must be 1 to " + Num(kMaxSecretSize) +
                                " bytes long");
  }
  if (threshold < 2) {
    return InvalidArgumentError("a recovery kit needs a threshold of at least 2 shares");
  }
  if (count > 255) return InvalidArgumentError("a recovery kit has at most 255 shares");
  if (count < threshold) {
    return InvalidArgumentError("a recovery kit of " + std::to_string(count) +
                                " shares cannot have a threshold of " + std::to_string(threshold));
  }
  return OkStatus();
}

// Evaluates the polynomial of every secret byte at x = 1..count. `coefficients` holds the
// threshold - 1 non-constant coefficients of each byte's polynomial, byte after byte.
std::vector<Share> EvaluateShares(ByteSpan secret, const KitId& kit, size_t threshold, size_t count,
                                  ByteSpan coefficients) {
  std::vector<Share> shares(count);
  for (size_t i = 0; i < count; ++i) {
    shares[i].kit_id = kit;
    shares[i].threshold = static_cast<uint8_t>(threshold);
    shares[i].count = static_cast<uint8_t>(count);
    shares[i].x = static_cast<uint8_t>(i + 1);
    shares[i].y = SecretBytes(secret.size());
  }
  SecretBytes poly(threshold);
  for (size_t b = 0; b < secret.size(); ++b) {
    poly.data()[0] = secret[b];
    std::copy_n(coefficients.begin() + static_cast<ptrdiff_t>(b * (threshold - 1)), threshold - 1,
                poly.data() + 1);
    for (Share& share : shares) share.y.data()[b] = gf256::Eval(poly.span(), share.x);
  }
  return shares;
}

// The structural checks of Combine: every share must agree with the first on kit, threshold,
// count and length, and carry a number in 1..count.
Status CheckSharesBelongTogether(const std::vector<Share>& shares) {
  const Share& first = shares.front();
  if (first.threshold < 2 || first.count < first.threshold) {
    return InvalidArgumentError("share " + Num(first.x) +
                                " is malformed: it names a threshold of " + Num(first.threshold) +
                                " of " + Num(first.count) + " shares");
  }
  if (first.y.size() < kMinSecretSize || first.y.size() > kMaxSecretSize) {
    return InvalidArgumentError("share " + Num(first.x) + " is malformed: wrong length");
  }
  for (size_t i = 0; i < shares.size(); ++i) {
    const Share& share = shares[i];
    if (share.kit_id != first.kit_id) {
      return InvalidArgumentError("the shares are from different recovery kits (share " +
                                  Num(i + 1) + " in the list is not from the kit of the first)");
    }
    if (share.threshold != first.threshold || share.count != first.count) {
      return InvalidArgumentError("the shares do not belong together: share " + Num(share.x) +
                                  " says any " + Num(share.threshold) + " of " + Num(share.count) +
                                  ", share " + Num(first.x) + " says any " + Num(first.threshold) +
                                  " of " + Num(first.count));
    }
    if (share.x < 1 || share.x > share.count) {
      return InvalidArgumentError("share number " + Num(share.x) + " is outside 1.." +
                                  Num(share.count) + " for a kit of " + Num(share.count) +
                                  " shares");
    }
    if (share.y.size() != first.y.size()) {
      return InvalidArgumentError("share " + Num(share.x) + " has a different length than share " +
                                  Num(first.x));
    }
  }
  return OkStatus();
}

// The value at `at` of every byte's polynomial through the shares `basis_shares`, given the
// Lagrange basis for their xs at `at`.
SecretBytes InterpolateAll(const std::vector<const Share*>& basis_shares,
                           std::span<const uint8_t> basis) {
  SecretBytes out(basis_shares.front()->y.size());
  for (size_t b = 0; b < out.size(); ++b) {
    uint8_t value = 0;
    for (size_t i = 0; i < basis_shares.size(); ++i) {
      value ^= gf256::Mul(basis[i], basis_shares[i]->y.data()[b]);
    }
    out.data()[b] = value;
  }
  return out;
}

std::string ListNumbers(const std::vector<const Share*>& shares) {
  std::string out;
  for (size_t i = 0; i < shares.size(); ++i) {
    if (i > 0) out += i + 1 == shares.size() ? " and " : ", ";
    out += Num(shares[i]->x);
  }
  return out;
}

}  // namespace

Result<std::vector<Share>> Split(ByteSpan secret, const KitId& kit, int threshold, int count) {
  PHV_RETURN_IF_ERROR(CheckSplitParameters(secret, threshold, count));
  SecretBytes coefficients(secret.size() * static_cast<size_t>(threshold - 1));
  PHV_RETURN_IF_ERROR(crypto::RandomBytes(coefficients.mutable_span()));
  return EvaluateShares(secret, kit, static_cast<size_t>(threshold), static_cast<size_t>(count),
                        coefficients.span());
}

Result<SecretBytes> Combine(const std::vector<Share>& shares) {
  if (shares.empty()) return FailedPreconditionError("no recovery shares were given");
  PHV_RETURN_IF_ERROR(CheckSharesBelongTogether(shares));
  const size_t threshold = shares.front().threshold;

  // Keep the first share of each number; a repeat must be identical. Equals() is constant-time
  // in the y values; that the two differ is what the error reports anyway.
  std::array<const Share*, 256> by_x{};
  std::vector<const Share*> chosen;
  std::vector<const Share*> extras;
  for (const Share& share : shares) {
    if (const Share* seen = by_x[share.x]; seen != nullptr) {
      if (!seen->y.Equals(share.y.span())) {
        return InvalidArgumentError("two different shares both carry number " + Num(share.x) +
                                    ": one of them is damaged");
      }
      continue;
    }
    by_x[share.x] = &share;
    (chosen.size() < threshold ? chosen : extras).push_back(&share);
  }
  if (chosen.size() < threshold) {
    return FailedPreconditionError("this kit needs " + Num(threshold) + " shares; got " +
                                   Num(chosen.size()) + " (each share names the threshold)");
  }

  std::vector<uint8_t> xs(threshold);
  for (size_t i = 0; i < threshold; ++i) xs[i] = chosen[i]->x;
  std::vector<uint8_t> basis(threshold);
  for (const Share* extra : extras) {
    gf256::LagrangeBasis(xs, extra->x, basis);
    if (!extra->y.Equals(InterpolateAll(chosen, basis).span())) {
      return InvalidArgumentError("share " + Num(extra->x) + " does not agree with shares " +
                                  ListNumbers(chosen) + ": at least one of them is damaged");
    }
  }
  gf256::LagrangeBasis(xs, 0, basis);
  return InterpolateAll(chosen, basis);
}

namespace internal {

Result<std::vector<Share>> SplitWithCoefficients(ByteSpan secret, const KitId& kit, int threshold,
                                                 int count, ByteSpan coefficients) {
  PHV_RETURN_IF_ERROR(CheckSplitParameters(secret, threshold, count));
  if (coefficients.size() != secret.size() * static_cast<size_t>(threshold - 1)) {
    return InvalidArgumentError("wrong number of coefficients");
  }
  return EvaluateShares(secret, kit, static_cast<size_t>(threshold), static_cast<size_t>(count),
                        coefficients);
}

}  // namespace internal

}  // namespace phivault::recovery
