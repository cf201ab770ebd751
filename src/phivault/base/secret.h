// Containers for secrets: passphrases, keys, key material in transit.
//
// SecretBytes owns a fixed-size heap buffer that is wiped (explicit_bzero, which the compiler
// may not elide) when the object is destroyed, reassigned or moved from, and is never
// reallocated, so no stale copy of the secret is left behind in freed memory. The bytes are
// reachable only through data()/span(); there is no implicit conversion to a string, and the
// formatter prints "**redacted**", so a secret cannot end up in a log line by accident.
//
// Thread safety: none; one thread per object.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace phivault {

// Overwrites `n` bytes at `p` with zeros in a way the optimiser keeps.
void SecureWipe(void* p, size_t n);

class SecretBytes {
 public:
  SecretBytes() = default;
  // `n` zero bytes.
  explicit SecretBytes(size_t n);
  // A copy of `data`.
  explicit SecretBytes(std::span<const uint8_t> data);
  ~SecretBytes() { Clear(); }

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  // An explicit deep copy.
  SecretBytes Clone() const { return SecretBytes(span()); }

  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<uint8_t> mutable_span() { return {data_.get(), size_}; }
  std::span<const uint8_t> span() const { return {data_.get(), size_}; }
  // Shortens the secret to `n` bytes (n <= size()), wiping the rest.
  void Truncate(size_t n);
  // Wipes and releases the buffer.
  void Clear();

  // Constant-time comparison.
  bool Equals(std::span<const uint8_t> other) const;

  static constexpr std::string_view kRedacted = "**redacted**";

 private:
  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
};

}  // namespace phivault
