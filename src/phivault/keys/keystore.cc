#include "phivault/keys/keystore.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "phivault/base/file_util.h"
#include "phivault/base/log.h"
#include "phivault/base/provenance.h"
#include "phivault/crypto/ed25519.h"

namespace phivault::keys {
namespace {

constexpr char kMagic[4] = {'P', 'H', 'V', 'K'};
constexpr uint8_t kVersion = 1;
constexpr size_t kSaltSize = 16;
constexpr size_t kMacSize = 32;
constexpr uint32_t kMaxSlots = 1000;
constexpr uint32_t kMaxArgon2MemoryKib = 4u * 1024 * 1024;  // 4 GiB
constexpr uint32_t kMaxArgon2Iterations = 64;
constexpr uint32_t kMaxArgon2Parallelism = 64;

enum SlotTag : uint64_t {
  kSlotId = 1,
  kSlotType = 2,
  kSlotLabel = 3,
  kSlotCreated = 4,
  kSlotKdf = 5,
  kSlotWrapped = 6,
  kSlotTokenWrapped = 7,
  kSlotTokenModule = 8,
  kSlotTokenLabel = 9,
  kSlotTokenKey = 10,
  kSlotKit = 11,
};
constexpr uint8_t kEpochActive = 1;
constexpr uint8_t kEpochRetiring = 2;
constexpr size_t kKitFieldSize = 16 + 2;
constexpr size_t kMaxTokenWrapped = 256;
enum BundleTag : uint64_t {
  kIdKey = 1,
  kChunkerKey = 2,
  kConfigDigest = 3,
  kEpochKey = 4,
  kCurrentEpoch = 5,
  kSigningSeed = 6,
};

Bytes SlotAad(const Id& repo_id, uint32_t slot_id) {
  Bytes aad;
  Encoder enc(&aad);
  enc.PutRaw(AsBytes("phivault/v1/slot"));
  enc.PutRaw(repo_id.bytes);
  enc.PutU32(slot_id);
  return aad;
}

Bytes BundleAad(const Id& repo_id) {
  Bytes aad(kMagic, kMagic + 4);
  aad.push_back(kVersion);
  aad.insert(aad.end(), repo_id.bytes.begin(), repo_id.bytes.end());
  return aad;
}

Result<SecretBytes> DeriveFromMaster(const SecretBytes& master, const Id& repo_id,
                                     std::string_view info) {
  return crypto::HkdfSha256(master.span(), repo_id.bytes, info, crypto::kKeySize);
}

// Seals `plaintext` with a random nonce: nonce || ciphertext || tag.
Result<Bytes> SealRandomNonce(const SecretBytes& key, ByteSpan aad, ByteSpan plaintext) {
  Bytes out(crypto::kNonceSize + plaintext.size() + crypto::kTagSize);
  PHV_RETURN_IF_ERROR(crypto::RandomBytes(MutableByteSpan(out.data(), crypto::kNonceSize)));
  crypto::Aes256Gcm gcm;
  PHV_RETURN_IF_ERROR(gcm.Seal(key.span(), ByteSpan(out.data(), crypto::kNonceSize), aad, plaintext,
                               out.data() + crypto::kNonceSize));
  return out;
}

Result<SecretBytes> OpenRandomNonce(const SecretBytes& key, ByteSpan aad, ByteSpan sealed) {
  if (sealed.size() < crypto::kNonceSize + crypto::kTagSize) {
    return DataLossError("sealed field too short");
  }
  SecretBytes out(sealed.size() - crypto::kNonceSize - crypto::kTagSize);
  crypto::Aes256Gcm gcm;
  PHV_RETURN_IF_ERROR(gcm.Open(key.span(), sealed.first(crypto::kNonceSize), aad,
                               sealed.subspan(crypto::kNonceSize), out.data()));
  return out;
}

Bytes EncodeKdf(const crypto::Argon2idParams& p, ByteSpan salt) {
  Bytes out;
  Encoder enc(&out);
  enc.PutU32(p.memory_kib);
  enc.PutU32(p.iterations);
  enc.PutU32(p.parallelism);
  enc.PutRaw(salt);
  return out;
}

SecretBytes EncodeBundle(const KeyBundle& b) {
  Bytes out;
  Encoder enc(&out);
  enc.PutTagBytes(kIdKey, b.id_key.span());
  enc.PutTagBytes(kChunkerKey, b.chunker_key.span());
  enc.PutTagBytes(kConfigDigest, b.config_digest.bytes);
  for (const EpochKey& e : b.epochs) {
    Bytes v;
    Encoder ev(&v);
    ev.PutU32(e.epoch);
    ev.PutU8(e.retiring ? kEpochRetiring : kEpochActive);
    ev.PutRaw(e.key.span());
    enc.PutTagBytes(kEpochKey, v);
    SecureWipe(v.data(), v.size());
  }
  Bytes cur;
  Encoder(&cur).PutU32(b.current_epoch);
  enc.PutTagBytes(kCurrentEpoch, cur);
  if (!b.signing_seed.empty()) enc.PutTagBytes(kSigningSeed, b.signing_seed.span());
  SecretBytes secret(out);
  SecureWipe(out.data(), out.size());
  return secret;
}

Result<KeyBundle> DecodeBundle(ByteSpan plain) {
  KeyBundle b;
  bool have_current = false;
  TlvReader r(plain, "keystore bundle");
  while (r.Next()) {
    switch (r.tag()) {
      case kIdKey: b.id_key = SecretBytes(r.value()); break;
      case kChunkerKey: b.chunker_key = SecretBytes(r.value()); break;
      case kConfigDigest: b.config_digest = Id::FromSpan(r.value()); break;
      case kEpochKey: {
        if (r.value().size() != 4 + 1 + crypto::kKeySize) {
          r.Fail("malformed epoch key");
          break;
        }
        EpochKey e;
        e.epoch = LoadLE32(r.value().data());
        const uint8_t state = r.value()[4];
        if (state != kEpochActive && state != kEpochRetiring) {
          r.Fail("unknown epoch state");
          break;
        }
        e.retiring = state == kEpochRetiring;
        e.key = SecretBytes(r.value().subspan(5));
        b.epochs.push_back(std::move(e));
        break;
      }
      case kCurrentEpoch:
        b.current_epoch = r.U32Value();
        have_current = true;
        break;
      case kSigningSeed:
        if (r.value().size() != crypto::kKeySize) {
          r.Fail("malformed signing key");
          break;
        }
        b.signing_seed = SecretBytes(r.value());
        break;
      default: break;
    }
  }
  PHV_RETURN_IF_ERROR(r.status());
  if (b.id_key.size() != crypto::kKeySize || b.chunker_key.size() != crypto::kKeySize ||
      !have_current || b.EpochKeyFor(b.current_epoch) == nullptr) {
    return DataLossError("keystore bundle is incomplete");
  }
  for (const EpochKey& e : b.epochs) {
    if (e.epoch == b.current_epoch && e.retiring) {
      return DataLossError("keystore bundle retires its current epoch");
    }
  }
  return b;
}

}  // namespace

const SecretBytes* KeyBundle::EpochKeyFor(uint32_t epoch) const {
  for (const EpochKey& e : epochs) {
    if (e.epoch == epoch) return &e.key;
  }
  return nullptr;
}

bool KeyBundle::reencryption_in_progress() const {
  return std::any_of(epochs.begin(), epochs.end(), [](const EpochKey& e) { return e.retiring; });
}

Result<Keystore> Keystore::Create(const Id& repository_id, const Id& config_digest,
                                  ByteSpan passphrase, const crypto::Argon2idParams& kdf,
                                  std::string label) {
  Keystore ks;
  ks.repository_id_ = repository_id;
  PHV_ASSIGN_OR_RETURN(ks.master_key_, crypto::RandomKey());
  PHV_ASSIGN_OR_RETURN(ks.bundle_.id_key, crypto::RandomKey());
  PHV_ASSIGN_OR_RETURN(ks.bundle_.chunker_key, crypto::RandomKey());
  ks.bundle_.config_digest = config_digest;
  EpochKey first;
  first.epoch = 1;
  PHV_ASSIGN_OR_RETURN(first.key, crypto::RandomKey());
  ks.bundle_.epochs.push_back(std::move(first));
  ks.bundle_.current_epoch = 1;
  PHV_ASSIGN_OR_RETURN(ks.bundle_.signing_seed, crypto::Ed25519NewSeed());

  PHV_ASSIGN_OR_RETURN(Slot slot, ks.MakePassphraseSlot(1, std::move(label), passphrase, kdf));
  ks.slot_records_.push_back(std::move(slot));
  ks.SyncSlotInfo();
  ks.opened_slot_ = 1;
  return ks;
}

Result<Keystore::Slot> Keystore::MakePassphraseSlot(uint32_t id, std::string label,
                                                    ByteSpan passphrase,
                                                    const crypto::Argon2idParams& kdf) const {
  if (kdf.memory_kib < kMinArgon2MemoryKib) {
    return InvalidArgumentError("argon2id memory below 64 MiB is not allowed for key slots");
  }
  Bytes salt(kSaltSize);
  PHV_RETURN_IF_ERROR(crypto::RandomBytes(salt));
  PHV_ASSIGN_OR_RETURN(SecretBytes slot_key,
                       crypto::Argon2id(passphrase, salt, kdf, crypto::kKeySize));
  Slot slot;
  slot.info.id = id;
  slot.info.type = SlotType::kPassphrase;
  slot.info.label = std::move(label);
  slot.info.created_ns = WallClockNs();
  slot.info.kdf = kdf;
  PHV_ASSIGN_OR_RETURN(slot.wrapped_master,
                       SealRandomNonce(slot_key, SlotAad(repository_id_, id), master_key_.span()));
  // The salt travels inside the kdf field; keep it with the slot record.
  slot.wrapped_master.insert(slot.wrapped_master.begin(), salt.begin(), salt.end());
  return slot;
}

uint32_t Keystore::NextSlotId() const {
  uint32_t id = 1;
  for (const Slot& s : slot_records_) id = std::max(id, s.info.id + 1);
  return id;
}

void Keystore::SyncSlotInfo() {
  slots_.clear();
  for (const Slot& s : slot_records_) slots_.push_back(s.info);
}

Result<uint32_t> Keystore::AddPassphraseSlot(ByteSpan passphrase, const crypto::Argon2idParams& kdf,
                                             std::string label) {
  if (!unlocked()) return FailedPreconditionError("keystore is locked");
  const uint32_t id = NextSlotId();
  PHV_ASSIGN_OR_RETURN(Slot slot, MakePassphraseSlot(id, std::move(label), passphrase, kdf));
  slot_records_.push_back(std::move(slot));
  SyncSlotInfo();
  return id;
}

Result<uint32_t> Keystore::AddDerivedSlot(SlotInfo info, ByteSpan secret) {
  if (!unlocked()) return FailedPreconditionError("keystore is locked");
  const uint32_t id = NextSlotId();
  Slot slot;
  info.id = id;
  info.created_ns = WallClockNs();
  info.kdf = {0, 0, 0};
  slot.info = std::move(info);
  Bytes salt(kSaltSize);
  PHV_RETURN_IF_ERROR(crypto::RandomBytes(salt));
  slot.wrapped_master = salt;
  PHV_ASSIGN_OR_RETURN(SecretBytes slot_key, SlotKey(slot, secret));
  PHV_ASSIGN_OR_RETURN(Bytes wrapped,
                       SealRandomNonce(slot_key, SlotAad(repository_id_, id), master_key_.span()));
  slot.wrapped_master.insert(slot.wrapped_master.end(), wrapped.begin(), wrapped.end());
  slot_records_.push_back(std::move(slot));
  SyncSlotInfo();
  return id;
}

Result<uint32_t> Keystore::AddKeyFileSlot(ByteSpan key, std::string label) {
  if (key.size() != kKeyFileSize) return InvalidArgumentError("a key file holds 32 bytes");
  SlotInfo info;
  info.type = SlotType::kKeyFile;
  info.label = std::move(label);
  return AddDerivedSlot(std::move(info), key);
}

Result<uint32_t> Keystore::AddPkcs11Slot(ByteSpan slot_key, SlotInfo info) {
  if (slot_key.size() != crypto::kKeySize) return InvalidArgumentError("a slot key has 32 bytes");
  if (info.token_module.empty() || info.token_label.empty() || info.token_key_label.empty() ||
      info.token_wrapped.empty() || info.token_wrapped.size() > kMaxTokenWrapped) {
    return InvalidArgumentError("a PKCS#11 slot needs a module, token, key label and wrapped key");
  }
  info.type = SlotType::kPkcs11;
  return AddDerivedSlot(std::move(info), slot_key);
}

Result<uint32_t> Keystore::AddRecoverySlot(ByteSpan recovery_secret, SlotInfo info) {
  if (recovery_secret.size() != crypto::kKeySize) {
    return InvalidArgumentError("a recovery secret has 32 bytes");
  }
  if (info.kit_threshold < 2 || info.kit_count < info.kit_threshold) {
    return InvalidArgumentError("a recovery kit needs a threshold of at least 2 shares");
  }
  info.type = SlotType::kRecoveryKit;
  return AddDerivedSlot(std::move(info), recovery_secret);
}

Result<uint32_t> Keystore::StartEpoch(bool retire_others) {
  if (!unlocked()) return FailedPreconditionError("keystore is locked");
  uint32_t next = 1;
  for (const EpochKey& e : bundle_.epochs) next = std::max(next, e.epoch + 1);
  EpochKey fresh;
  fresh.epoch = next;
  PHV_ASSIGN_OR_RETURN(fresh.key, crypto::RandomKey());
  if (retire_others) {
    for (EpochKey& e : bundle_.epochs) e.retiring = true;
  }
  bundle_.epochs.push_back(std::move(fresh));
  bundle_.current_epoch = next;
  return next;
}

Status Keystore::SetSigningSeed(SecretBytes seed) {
  if (!unlocked()) return FailedPreconditionError("keystore is locked");
  if (seed.size() != crypto::kKeySize) return InvalidArgumentError("a signing key has 32 bytes");
  bundle_.signing_seed = std::move(seed);
  return OkStatus();
}

std::vector<uint32_t> Keystore::DropRetiringEpochs() {
  std::vector<uint32_t> dropped;
  std::vector<EpochKey> kept;
  for (EpochKey& e : bundle_.epochs) {
    if (e.retiring) {
      dropped.push_back(e.epoch);
    } else {
      kept.push_back(std::move(e));
    }
  }
  bundle_.epochs = std::move(kept);
  return dropped;
}

Status Keystore::RemoveSlot(uint32_t id) {
  if (!unlocked()) return FailedPreconditionError("keystore is locked");
  auto it = std::find_if(slot_records_.begin(), slot_records_.end(),
                         [id](const Slot& s) { return s.info.id == id; });
  if (it == slot_records_.end()) return NotFoundError("no key slot " + std::to_string(id));
  if (slot_records_.size() == 1) {
    return Status(StatusCode::kFailedPrecondition,
                  "slot " + std::to_string(id) +
                      " is the last key slot; removing it would leave no way to read the "
                      "repository (add another slot first)",
                  ErrorTag::kKeystore);
  }
  slot_records_.erase(it);
  SyncSlotInfo();
  return OkStatus();
}

Status Keystore::ChangePassphrase(uint32_t id, ByteSpan passphrase,
                                  const crypto::Argon2idParams& kdf) {
  if (!unlocked()) return FailedPreconditionError("keystore is locked");
  for (Slot& s : slot_records_) {
    if (s.info.id != id) continue;
    if (s.info.type != SlotType::kPassphrase) {
      return InvalidArgumentError("slot " + std::to_string(id) + " is not a passphrase slot");
    }
    PHV_ASSIGN_OR_RETURN(Slot fresh, MakePassphraseSlot(id, s.info.label, passphrase, kdf));
    s = std::move(fresh);
    SyncSlotInfo();
    return OkStatus();
  }
  return NotFoundError("no key slot " + std::to_string(id));
}

// Slot records keep the Argon2id salt in front of the wrapped key in memory (wrapped_master =
// salt || nonce || ciphertext || tag); on disk the salt is part of the kdf field.
Result<Bytes> Keystore::EncodeBody(bool reseal) const {
  Bytes out(kMagic, kMagic + 4);
  Encoder enc(&out);
  enc.PutU8(kVersion);
  enc.PutRaw(repository_id_.bytes);
  enc.PutVarint(slot_records_.size());
  for (const Slot& s : slot_records_) {
    Bytes rec;
    Encoder r(&rec);
    r.PutTagVarint(kSlotId, s.info.id);
    r.PutTagVarint(kSlotType, static_cast<uint64_t>(s.info.type));
    r.PutTagBytes(kSlotLabel, s.info.label);
    Bytes created;
    Encoder(&created).PutI64(s.info.created_ns);
    r.PutTagBytes(kSlotCreated, created);
    ByteSpan salt = ByteSpan(s.wrapped_master).first(kSaltSize);
    r.PutTagBytes(kSlotKdf, EncodeKdf(s.info.kdf, salt));
    r.PutTagBytes(kSlotWrapped, ByteSpan(s.wrapped_master).subspan(kSaltSize));
    if (s.info.type == SlotType::kPkcs11) {
      r.PutTagBytes(kSlotTokenWrapped, s.info.token_wrapped);
      r.PutTagBytes(kSlotTokenModule, s.info.token_module);
      r.PutTagBytes(kSlotTokenLabel, s.info.token_label);
      r.PutTagBytes(kSlotTokenKey, s.info.token_key_label);
    }
    if (s.info.type == SlotType::kRecoveryKit) {
      Bytes kit(s.info.kit_id.begin(), s.info.kit_id.end());
      kit.push_back(s.info.kit_threshold);
      kit.push_back(s.info.kit_count);
      r.PutTagBytes(kSlotKit, kit);
    }
    enc.PutBytes(rec);
  }
  if (reseal) {
    PHV_ASSIGN_OR_RETURN(SecretBytes bundle_key, DeriveFromMaster(master_key_, repository_id_,
                                                                  "phivault/v1/keystore-bundle"));
    SecretBytes plain = EncodeBundle(bundle_);
    PHV_ASSIGN_OR_RETURN(Bytes sealed,
                         SealRandomNonce(bundle_key, BundleAad(repository_id_), plain.span()));
    enc.PutBytes(sealed);
  } else {
    enc.PutBytes(sealed_bundle_);
  }
  return out;
}

Result<Bytes> Keystore::Serialize() const {
  if (!unlocked()) return FailedPreconditionError("keystore is locked");
  PHV_ASSIGN_OR_RETURN(Bytes body, EncodeBody(/*reseal=*/true));
  PHV_ASSIGN_OR_RETURN(SecretBytes mac_key,
                       DeriveFromMaster(master_key_, repository_id_, "phivault/v1/keystore-mac"));
  PHV_ASSIGN_OR_RETURN(auto mac, crypto::HmacSha256::Create(mac_key.span()));
  PHV_ASSIGN_OR_RETURN(Id tag, mac->Compute(body));
  body.insert(body.end(), tag.bytes.begin(), tag.bytes.end());
  return body;
}

Status Keystore::Save(const std::string& path) const {
  PHV_ASSIGN_OR_RETURN(Bytes data, Serialize());
  size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    PHV_RETURN_IF_ERROR(MakeDirs(path.substr(0, slash), 0700));
  }
  return WriteFileAtomic(path, data, 0600).WithContext("write keystore");
}

Result<Keystore> Keystore::Parse(ByteSpan file, std::string_view what) {
  Decoder dec(file, what);
  ByteSpan magic = dec.GetRaw(4);
  if (dec.ok() && AsStringView(magic) != std::string_view(kMagic, 4)) {
    return DataLossError(std::string(what) + ": not a phivault keystore");
  }
  uint8_t version = dec.GetU8();
  if (dec.ok() && version == 0) return DataLossError(std::string(what) + ": bad version 0");
  if (dec.ok() && version > kVersion) {
    return FailedPreconditionError(std::string(what) + ": keystore format version " +
                                   std::to_string(version) + " is newer than this phivault (" +
                                   std::to_string(kVersion) + ")")
        .WithTag(ErrorTag::kFormatVersion);
  }
  Keystore ks;
  ks.repository_id_ = Id::FromSpan(dec.GetRaw(Id::kSize));
  uint64_t count = dec.GetVarintAtMost(kMaxSlots, "slot count");
  for (uint64_t i = 0; i < count && dec.ok(); ++i) {
    Slot s;
    ByteSpan salt, wrapped;
    TlvReader r(dec.GetBytes(), what);
    while (r.Next()) {
      switch (r.tag()) {
        case kSlotId: s.info.id = static_cast<uint32_t>(r.VarintValue()); break;
        case kSlotType: s.info.type = static_cast<SlotType>(r.VarintValue()); break;
        case kSlotLabel: s.info.label = std::string(AsStringView(r.value())); break;
        case kSlotCreated: s.info.created_ns = r.I64Value(); break;
        case kSlotKdf: {
          if (r.value().size() != 12 + kSaltSize) {
            r.Fail("malformed kdf parameters");
            break;
          }
          s.info.kdf.memory_kib = LoadLE32(r.value().data());
          s.info.kdf.iterations = LoadLE32(r.value().data() + 4);
          s.info.kdf.parallelism = LoadLE32(r.value().data() + 8);
          salt = r.value().subspan(12);
          break;
        }
        case kSlotWrapped: wrapped = r.value(); break;
        case kSlotTokenWrapped:
          s.info.token_wrapped.assign(r.value().begin(), r.value().end());
          break;
        case kSlotTokenModule: s.info.token_module = std::string(AsStringView(r.value())); break;
        case kSlotTokenLabel: s.info.token_label = std::string(AsStringView(r.value())); break;
        case kSlotTokenKey: s.info.token_key_label = std::string(AsStringView(r.value())); break;
        case kSlotKit:
          if (r.value().size() != kKitFieldSize) {
            r.Fail("malformed recovery kit field");
            break;
          }
          std::copy_n(r.value().begin(), 16, s.info.kit_id.begin());
          s.info.kit_threshold = r.value()[16];
          s.info.kit_count = r.value()[17];
          break;
        default: break;
      }
    }
    if (!r.status().ok()) return r.status();
    // A tampered file must not make phivault allocate terabytes or spin for hours.
    const crypto::Argon2idParams& k = s.info.kdf;
    if (s.info.type == SlotType::kPassphrase &&
        (k.memory_kib > kMaxArgon2MemoryKib || k.iterations == 0 ||
         k.iterations > kMaxArgon2Iterations || k.parallelism == 0 ||
         k.parallelism > kMaxArgon2Parallelism)) {
      return DataLossError(std::string(what) + ": implausible kdf parameters");
    }
    if (s.info.type != SlotType::kPassphrase &&
        (k.memory_kib != 0 || k.iterations != 0 || k.parallelism != 0)) {
      return DataLossError(std::string(what) + ": " + SlotTypeName(s.info.type) +
                           " slot with kdf parameters");
    }
    if (s.info.type == SlotType::kPkcs11 &&
        (s.info.token_wrapped.empty() || s.info.token_wrapped.size() > kMaxTokenWrapped ||
         s.info.token_module.empty() || s.info.token_label.empty() ||
         s.info.token_key_label.empty())) {
      return DataLossError(std::string(what) + ": incomplete PKCS#11 slot");
    }
    if (s.info.type == SlotType::kRecoveryKit &&
        (s.info.kit_threshold < 2 || s.info.kit_count < s.info.kit_threshold)) {
      return DataLossError(std::string(what) + ": incomplete recovery-kit slot");
    }
    if (s.info.type != SlotType::kPassphrase && s.info.type != SlotType::kKeyFile &&
        s.info.type != SlotType::kPkcs11 && s.info.type != SlotType::kRecoveryKit) {
      return UnimplementedError(std::string(what) + ": slot type " +
                                std::to_string(static_cast<int>(s.info.type)) +
                                " is not supported by this phivault");
    }
    if (salt.size() != kSaltSize ||
        wrapped.size() != crypto::kNonceSize + crypto::kKeySize + crypto::kTagSize) {
      return DataLossError(std::string(what) + ": incomplete key slot");
    }
    s.wrapped_master.assign(salt.begin(), salt.end());
    s.wrapped_master.insert(s.wrapped_master.end(), wrapped.begin(), wrapped.end());
    ks.slots_.push_back(s.info);
    ks.slot_records_.push_back(std::move(s));
  }
  ByteSpan sealed = dec.GetBytes();
  ks.sealed_bundle_.assign(sealed.begin(), sealed.end());
  size_t body_end = dec.position();
  ByteSpan mac = dec.GetRaw(kMacSize);
  PHV_RETURN_IF_ERROR(dec.Finish());
  if (ks.slot_records_.empty()) return DataLossError(std::string(what) + ": no key slots");
  ks.mac_.assign(mac.begin(), mac.end());
  ks.body_.assign(file.begin(), file.begin() + static_cast<ptrdiff_t>(body_end));
  return ks;
}

Result<Keystore> Keystore::Load(const std::string& path) {
  auto data = ReadFile(path);
  if (!data.ok()) {
    if (data.status().code() == StatusCode::kNotFound) {
      return NotFoundError("no keystore at " + path +
                           " (name its directory with --keystore or PHIVAULT_KEYSTORE)")
          .WithTag(ErrorTag::kKeystore);
    }
    return std::move(data).status().WithTag(ErrorTag::kKeystore);
  }
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    PHV_LOG(kWarning, "keystore file is accessible to other users (mode {:o})", st.st_mode & 0777);
  }
  auto parsed = Parse(*data, "keystore " + path);
  if (!parsed.ok() && parsed.status().tag() == ErrorTag::kNone) {
    return std::move(parsed).status().WithTag(ErrorTag::kKeystore);
  }
  return parsed;
}

Status Keystore::Unlock(ByteSpan passphrase) {
  return UnlockWith(SlotType::kPassphrase, passphrase);
}

Status Keystore::UnlockWith(SlotType type, ByteSpan secret) {
  Status s = UnlockSlots(type, secret);
  // Any failure other than a wrong passphrase means the keystore file itself is damaged.
  if (s.code() == StatusCode::kDataLoss) return std::move(s).WithTag(ErrorTag::kKeystore);
  return s;
}

Result<SecretBytes> Keystore::SlotKey(const Slot& slot, ByteSpan secret) const {
  ByteSpan salt = ByteSpan(slot.wrapped_master).first(kSaltSize);
  switch (slot.info.type) {
    case SlotType::kPassphrase:
      return crypto::Argon2id(secret, salt, slot.info.kdf, crypto::kKeySize);
    case SlotType::kKeyFile:
      if (secret.size() != kKeyFileSize) return UnauthenticatedError("not a phivault key file");
      return crypto::HkdfSha256(secret, salt, "phivault/v1/slot-key-file", crypto::kKeySize);
    case SlotType::kPkcs11:
      if (secret.size() != crypto::kKeySize) return UnauthenticatedError("not a slot key");
      return crypto::HkdfSha256(secret, salt, "phivault/v1/slot-pkcs11", crypto::kKeySize);
    case SlotType::kRecoveryKit:
      if (secret.size() != crypto::kKeySize) return UnauthenticatedError("not a recovery secret");
      return crypto::HkdfSha256(secret, salt, "phivault/v1/slot-recovery-kit", crypto::kKeySize);
  }
  return InternalError("unknown slot type");
}

Result<bool> Keystore::TryOpen(const Slot& s, ByteSpan secret) {
  auto key = SlotKey(s, secret);
  if (key.status().code() == StatusCode::kUnauthenticated) return false;
  PHV_RETURN_IF_ERROR(key.status());
  SecretBytes slot_key = std::move(*key);
  auto master = OpenRandomNonce(slot_key, SlotAad(repository_id_, s.info.id),
                                ByteSpan(s.wrapped_master).subspan(kSaltSize));
  if (!master.ok()) return false;
  if (master->size() != crypto::kKeySize) return DataLossError("keystore: bad master key");

  // The slot opened: from here on any failure means the file was altered.
  PHV_ASSIGN_OR_RETURN(SecretBytes mac_key,
                       DeriveFromMaster(*master, repository_id_, "phivault/v1/keystore-mac"));
  PHV_ASSIGN_OR_RETURN(auto mac, crypto::HmacSha256::Create(mac_key.span()));
  PHV_ASSIGN_OR_RETURN(Id expected, mac->Compute(body_));
  SecretBytes expected_secret(expected.bytes);
  if (!expected_secret.Equals(mac_)) {
    return DataLossError("keystore failed authentication: the file was modified");
  }
  PHV_ASSIGN_OR_RETURN(SecretBytes bundle_key,
                       DeriveFromMaster(*master, repository_id_, "phivault/v1/keystore-bundle"));
  auto plain = OpenRandomNonce(bundle_key, BundleAad(repository_id_), sealed_bundle_);
  if (!plain.ok()) return DataLossError("keystore bundle failed authentication");
  PHV_ASSIGN_OR_RETURN(bundle_, DecodeBundle(plain->span()));
  master_key_ = std::move(*master);
  opened_slot_ = s.info.id;
  return true;
}

Status Keystore::UnlockSlots(SlotType type, ByteSpan secret) {
  for (const Slot& s : slot_records_) {
    if (s.info.type != type) continue;
    PHV_ASSIGN_OR_RETURN(bool opened, TryOpen(s, secret));
    if (opened) return OkStatus();
  }
  switch (type) {
    case SlotType::kKeyFile:
      return UnauthenticatedError("wrong key file: no key-file slot of the keystore opens with it");
    case SlotType::kPassphrase:
      return UnauthenticatedError("wrong passphrase: no key slot of the keystore opens with it");
    default:
      return UnauthenticatedError("no " + SlotTypeName(type) + " slot of the keystore opens");
  }
}

Status Keystore::UnlockSlot(uint32_t id, ByteSpan secret) {
  for (const Slot& s : slot_records_) {
    if (s.info.id != id) continue;
    auto opened = TryOpen(s, secret);
    if (!opened.ok()) {
      Status st = std::move(opened).status();
      if (st.code() == StatusCode::kDataLoss) return std::move(st).WithTag(ErrorTag::kKeystore);
      return st;
    }
    if (*opened) return OkStatus();
    return UnauthenticatedError("key slot " + std::to_string(id) + " does not open with this " +
                                (s.info.type == SlotType::kRecoveryKit ? "recovery kit" : "key"));
  }
  return NotFoundError("no key slot " + std::to_string(id));
}

std::string SlotTypeName(SlotType type) {
  switch (type) {
    case SlotType::kPassphrase: return "passphrase";
    case SlotType::kKeyFile: return "key file";
    case SlotType::kPkcs11: return "pkcs11";
    case SlotType::kRecoveryKit: return "recovery kit";
  }
  return "type " + std::to_string(static_cast<int>(type));
}

Result<SecretBytes> ReadKeyFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return ErrnoToStatus(errno, "key file " + path).WithTag(ErrorTag::kKeystore);
  UniqueFd owner(fd);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return Status(StatusCode::kPermissionDenied, "key file " + path + ": not a regular file",
                  ErrorTag::kKeystore);
  }
  if ((st.st_mode & 077) != 0) {
    return Status(
        StatusCode::kPermissionDenied,
        "key file " + path + " is readable by group or others; refusing it. Run: chmod 600 " + path,
        ErrorTag::kKeystore);
  }
  SecretBytes key(kKeyFileSize + 1);
  ssize_t n = read(fd, key.data(), key.size());
  if (n != static_cast<ssize_t>(kKeyFileSize)) {
    return UnauthenticatedError("key file " + path + " is not a phivault key file (32 bytes)");
  }
  key.Truncate(kKeyFileSize);
  return key;
}

Result<SecretBytes> CreateKeyFile(const std::string& path) {
  PHV_ASSIGN_OR_RETURN(SecretBytes key, crypto::RandomKey());
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoToStatus(errno, "create key file " + path);
  UniqueFd owner(fd);
  if (write(fd, key.data(), key.size()) != static_cast<ssize_t>(key.size()) || fsync(fd) != 0) {
    Status s = ErrnoToStatus(errno, "write key file " + path);
    unlink(path.c_str());
    return s;
  }
  return key;
}

std::string DefaultKeystoreDir() {
  const char* env = getenv("PHIVAULT_KEYSTORE");
  if (env != nullptr && env[0] != '\0') return env;
  const char* xdg = getenv("XDG_CONFIG_HOME");
  std::string base = (xdg != nullptr && xdg[0] == '/') ? xdg : JoinPath(HomeDirectory(), ".config");
  return JoinPath(base, "phivault/keystore");
}

std::string KeystorePath(const std::string& dir, const Id& repository_id) {
  return JoinPath(dir, repository_id.Hex() + ".keystore");
}

Status CheckKeystoreOutsideRepository(const std::string& keystore_dir,
                                      const std::string& repository_dir) {
  PHV_ASSIGN_OR_RETURN(std::string ks, ResolvePathPrefix(keystore_dir));
  PHV_ASSIGN_OR_RETURN(std::string repo, ResolvePathPrefix(repository_dir));
  if (IsPathWithin(ks, repo)) {
    return FailedPreconditionError("the keystore directory " + ks + " is inside the repository " +
                                   repo + "; keys must be kept apart from the data they protect")
        .WithTag(ErrorTag::kKeystore);
  }
  return OkStatus();
}

}  // namespace phivault::keys
