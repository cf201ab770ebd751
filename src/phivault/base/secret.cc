#include "phivault/base/secret.h"

#include <string.h>

#include <algorithm>

namespace phivault {

void SecureWipe(void* p, size_t n) {
  if (p != nullptr && n > 0) explicit_bzero(p, n);
}

SecretBytes::SecretBytes(size_t n) : data_(n ? new uint8_t[n]() : nullptr), size_(n) {}

SecretBytes::SecretBytes(std::span<const uint8_t> data) : SecretBytes(data.size()) {
  if (size_ > 0) std::copy(data.begin(), data.end(), data_.get());
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::move(other.data_)), size_(other.size_) {
  other.size_ = 0;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Clear();
    data_ = std::move(other.data_);
    size_ = other.size_;
    other.size_ = 0;
  }
  return *this;
}

void SecretBytes::Truncate(size_t n) {
  if (n >= size_) return;
  SecureWipe(data_.get() + n, size_ - n);
  size_ = n;
}

void SecretBytes::Clear() {
  // The allocation may be larger than size_ after Truncate; wiping size_ bytes covers all the
  // bytes that ever held the secret because Truncate wiped the tail already.
  SecureWipe(data_.get(), size_);
  data_.reset();
  size_ = 0;
}

bool SecretBytes::Equals(std::span<const uint8_t> other) const {
  if (other.size() != size_) return false;
  uint8_t diff = 0;
  for (size_t i = 0; i < size_; ++i) diff |= static_cast<uint8_t>(data_[i] ^ other[i]);
  return diff == 0;
}

}  // namespace phivault
