// The keystore: the file, kept apart from the repository, that holds every key able to read or
// write it, wrapped by key slots (doc/format/keystore.md).
//
// A Keystore is loaded from its file in a locked state, which exposes only public facts (the
// repository id and the slot list). Unlock() with a passphrase unwraps the master key, checks
// the MAC over the whole file and opens the key bundle; after that keys() gives the repository
// keys and Save() can write the keystore back (re-sealed, re-MACed).
//
// Ownership: a Keystore owns its key material in SecretBytes, wiped on destruction.
// Thread safety: none; one thread at a time. The KeyBundle returned by keys() is immutable and
// may be read from many threads while the Keystore lives.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "phivault/base/bytes.h"
#include "phivault/base/id.h"
#include "phivault/base/secret.h"
#include "phivault/base/status.h"
#include "phivault/crypto/crypto.h"

namespace phivault::keys {

enum class SlotType : uint8_t {
  kPassphrase = 1,
  kKeyFile = 2,
  kPkcs11 = 3,
  kRecoveryKit = 4,
};

// "passphrase", "key file", …
std::string SlotTypeName(SlotType type);

// Size of a key file: 32 random bytes.
inline constexpr size_t kKeyFileSize = 32;

// Reads a key file: exactly kKeyFileSize bytes, not readable by group or others (refused with
// kPermissionDenied tagged kKeystore otherwise; a file of another size is kUnauthenticated).
Result<SecretBytes> ReadKeyFile(const std::string& path);
// Creates a new key file at `path` (mode 0600; kAlreadyExists if the path exists) holding
// kKeyFileSize random bytes, and returns them.
Result<SecretBytes> CreateKeyFile(const std::string& path);

struct SlotInfo {
  uint32_t id = 0;
  SlotType type = SlotType::kPassphrase;
  std::string label;
  int64_t created_ns = 0;
  crypto::Argon2idParams kdf;
  // PKCS#11 slots: where the token key is, and the slot key as the token wrapped it
  // (CKM_AES_KEY_WRAP_PAD). None of it is secret: only the token can unwrap.
  std::string token_module;
  std::string token_label;
  std::string token_key_label;
  Bytes token_wrapped;
  // Recovery-kit slots: the kit's id (printed on every share) and its K of N.
  std::array<uint8_t, 16> kit_id{};
  uint8_t kit_threshold = 0;
  uint8_t kit_count = 0;
};

struct EpochKey {
  uint32_t epoch = 0;
  // Set while a re-encryption moves every object off this epoch; the key stays until it is done.
  bool retiring = false;
  SecretBytes key;
};

// The keys a repository needs, as stored in the keystore's sealed bundle.
struct KeyBundle {
  SecretBytes id_key;
  SecretBytes chunker_key;
  Id config_digest;
  std::vector<EpochKey> epochs;
  uint32_t current_epoch = 0;
  // The Ed25519 private key (32-byte seed) that signs drill records and audit checkpoints; empty
  // until first needed (keystores made before it existed).
  SecretBytes signing_seed;

  // The key of `epoch`, or nullptr if the bundle has none.
  const SecretBytes* EpochKeyFor(uint32_t epoch) const;
  // True while epochs are marked retiring: a re-encryption started and has not finished.
  bool reencryption_in_progress() const;
};

// The lowest Argon2id memory cost a passphrase slot may use.
inline constexpr uint32_t kMinArgon2MemoryKib = 64 * 1024;

class Keystore {
 public:
  // Creates the keystore of a new repository: a random master key, id key, chunker key and the
  // key of epoch 1, and one passphrase slot. The result is unlocked.
  // kInvalidArgument if `kdf` uses less than kMinArgon2MemoryKib.
  static Result<Keystore> Create(const Id& repository_id, const Id& config_digest,
                                 ByteSpan passphrase, const crypto::Argon2idParams& kdf,
                                 std::string label);

  // Decodes a keystore file without unlocking it. kDataLoss for a malformed file,
  // kFailedPrecondition tagged kFormatVersion for a newer version.
  static Result<Keystore> Parse(ByteSpan file, std::string_view what);
  // Reads and parses `path`. kNotFound tagged kKeystore when it does not exist.
  static Result<Keystore> Load(const std::string& path);

  Keystore(Keystore&&) noexcept = default;
  Keystore& operator=(Keystore&&) noexcept = default;

  // Tries `passphrase` on every passphrase slot. kUnauthenticated if none opens; kDataLoss tagged
  // kKeystore if a slot opens but the file's MAC or the bundle fails to authenticate (the file was
  // altered). On success the keystore is unlocked.
  Status Unlock(ByteSpan passphrase);
  // The same with the secret of another kind of slot: tries every slot of `type`.
  Status UnlockWith(SlotType type, ByteSpan secret);
  // Opens slot `id` with its secret (for PKCS#11 slots, the slot key the token unwrapped; for
  // recovery kits, the combined recovery secret). kNotFound if there is no such slot.
  Status UnlockSlot(uint32_t id, ByteSpan secret);

  bool unlocked() const { return master_key_.size() == crypto::kKeySize; }
  const Id& repository_id() const { return repository_id_; }
  const std::vector<SlotInfo>& slots() const { return slots_; }
  // REQUIRES: unlocked()
  const KeyBundle& keys() const { return bundle_; }

  // --- slot management; REQUIRES: unlocked(). Changes take effect with Save(). --------------
  // The id of the slot that unlocked the keystore.
  uint32_t opened_slot() const { return opened_slot_; }
  // Adds a passphrase slot wrapping the same master key; returns its id.
  // kInvalidArgument if `kdf` uses less than kMinArgon2MemoryKib.
  Result<uint32_t> AddPassphraseSlot(ByteSpan passphrase, const crypto::Argon2idParams& kdf,
                                     std::string label);
  // Adds a key-file slot opened by `key` (the contents of a key file); returns its id.
  Result<uint32_t> AddKeyFileSlot(ByteSpan key, std::string label);
  // Adds a PKCS#11 slot: `slot_key` (32 random bytes) opens it, and `info` names the token key
  // and carries `token_wrapped`, the slot key wrapped by that key. Returns its id.
  Result<uint32_t> AddPkcs11Slot(ByteSpan slot_key, SlotInfo info);
  // Adds a recovery-kit slot opened by the kit's 32-byte recovery secret. `info` carries the kit
  // id, threshold and count. Returns its id.
  Result<uint32_t> AddRecoverySlot(ByteSpan recovery_secret, SlotInfo info);
  // Removes slot `id`. kNotFound if there is none; kFailedPrecondition tagged kKeystore if it is
  // the last slot (the repository would become unreadable).
  Status RemoveSlot(uint32_t id);
  // Gives passphrase slot `id` a new passphrase (new salt, new wrapping); the old one stops
  // working. kNotFound / kInvalidArgument as above, or if `id` is not a passphrase slot.
  Status ChangePassphrase(uint32_t id, ByteSpan passphrase, const crypto::Argon2idParams& kdf);

  // --- key epochs; REQUIRES: unlocked(). Changes take effect with Save(). -------------------
  // Adds a new random epoch key and makes it current (key rotation); returns the new epoch.
  // With `retire_others`, every older epoch is marked retiring: a re-encryption is starting.
  Result<uint32_t> StartEpoch(bool retire_others);
  // Drops the keys of the retiring epochs (the re-encryption is done); returns their numbers.
  std::vector<uint32_t> DropRetiringEpochs();
  // Sets the signing key (an Ed25519 seed of 32 bytes). Signing keys do not rotate with epochs:
  // auditors hold the public key, and every record signed before must keep verifying.
  Status SetSigningSeed(SecretBytes seed);

  // Encodes the keystore, re-sealing the bundle and recomputing the MAC. REQUIRES: unlocked().
  Result<Bytes> Serialize() const;
  // Writes the keystore to `path` atomically with mode 0600. REQUIRES: unlocked().
  Status Save(const std::string& path) const;

 private:
  struct Slot {
    SlotInfo info;
    Bytes wrapped_master;  // nonce || ciphertext || tag
  };
  Keystore() = default;

  Result<Bytes> EncodeBody(bool reseal) const;
  Status UnlockSlots(SlotType type, ByteSpan secret);
  // Tries `secret` on `slot`: false if it does not open the slot; an error if the slot opens
  // but the file fails authentication. On true the keystore is unlocked.
  Result<bool> TryOpen(const Slot& slot, ByteSpan secret);
  // Adds a slot whose key is derived from `secret` by SlotKey, with a fresh salt.
  Result<uint32_t> AddDerivedSlot(SlotInfo info, ByteSpan secret);
  Result<SecretBytes> SlotKey(const Slot& slot, ByteSpan secret) const;
  Result<Slot> MakePassphraseSlot(uint32_t id, std::string label, ByteSpan passphrase,
                                  const crypto::Argon2idParams& kdf) const;
  void SyncSlotInfo();
  uint32_t NextSlotId() const;

  Id repository_id_;
  std::vector<Slot> slot_records_;
  std::vector<SlotInfo> slots_;
  Bytes sealed_bundle_;  // as read from the file; replaced by Serialize
  Bytes mac_;
  Bytes body_;  // the bytes the MAC covers, as read from the file
  SecretBytes master_key_;
  KeyBundle bundle_;
  uint32_t opened_slot_ = 0;
};

// Where keystores live: the directory named by --keystore, else $PHIVAULT_KEYSTORE, else
// $XDG_CONFIG_HOME/phivault/keystore, else ~/.config/phivault/keystore.
std::string DefaultKeystoreDir();
// The keystore file of `repository_id` inside `dir`.
std::string KeystorePath(const std::string& dir, const Id& repository_id);
// kFailedPrecondition tagged kKeystore if `keystore_dir` is `repository_dir` or inside it. Both
// are resolved through existing symlinks first.
Status CheckKeystoreOutsideRepository(const std::string& keystore_dir,
                                      const std::string& repository_dir);

}  // namespace phivault::keys
