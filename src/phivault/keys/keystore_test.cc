#include "phivault/keys/keystore.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "phivault/base/file_util.h"
#include "phivault/keys/key_log.h"

namespace phivault::keys {
namespace {

const crypto::Argon2idParams kKdf{
    .memory_kib = kMinArgon2MemoryKib, .iterations = 1, .parallelism = 2};

Id RepoId() { return Id::FromSpan(Bytes(32, 0x42)); }
Id ConfigDigest() { return Id::FromSpan(Bytes(32, 0x17)); }

class KeystoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ks = Keystore::Create(RepoId(), ConfigDigest(), AsBytes("correct horse"), kKdf, "admin");
    ASSERT_TRUE(ks.ok()) << ks.status().ToString();
    auto bytes = ks->Serialize();
    ASSERT_TRUE(bytes.ok());
    file_ = *bytes;
    original_id_key_ = Bytes(ks->keys().id_key.span().begin(), ks->keys().id_key.span().end());
  }
  Bytes file_;
  Bytes original_id_key_;
};

TEST_F(KeystoreTest, RoundTripUnlocksWithThePassphrase) {
  auto ks = Keystore::Parse(file_, "ks");
  ASSERT_TRUE(ks.ok()) << ks.status().ToString();
  EXPECT_FALSE(ks->unlocked());
  EXPECT_EQ(ks->repository_id(), RepoId());
  ASSERT_EQ(ks->slots().size(), 1u);
  EXPECT_EQ(ks->slots()[0].label, "admin");
  EXPECT_EQ(ks->slots()[0].kdf.memory_kib, kMinArgon2MemoryKib);
  ASSERT_TRUE(ks->Unlock(AsBytes("correct horse")).ok());
  EXPECT_TRUE(ks->keys().id_key.Equals(original_id_key_));
  EXPECT_EQ(ks->keys().config_digest, ConfigDigest());
  EXPECT_EQ(ks->keys().current_epoch, 1u);
  ASSERT_NE(ks->keys().EpochKeyFor(1), nullptr);
  EXPECT_EQ(ks->keys().EpochKeyFor(2), nullptr);
}

TEST_F(KeystoreTest, WrongPassphraseIsUnauthenticated) {
  auto ks = Keystore::Parse(file_, "ks");
  ASSERT_TRUE(ks.ok());
  Status s = ks->Unlock(AsBytes("correct horsE"));
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_FALSE(ks->unlocked());
  EXPECT_EQ(s.message().find("correct"), std::string_view::npos);  // no secret in the message
}

TEST_F(KeystoreTest, ReserializedKeystoreStillUnlocks) {
  auto ks = Keystore::Parse(file_, "ks");
  ASSERT_TRUE(ks->Unlock(AsBytes("correct horse")).ok());
  auto again = ks->Serialize();
  ASSERT_TRUE(again.ok());
  EXPECT_NE(*again, file_);  // fresh nonce for the bundle
  auto ks2 = Keystore::Parse(*again, "ks2");
  ASSERT_TRUE(ks2.ok());
  ASSERT_TRUE(ks2->Unlock(AsBytes("correct horse")).ok());
  EXPECT_TRUE(ks2->keys().id_key.Equals(original_id_key_));
}

TEST_F(KeystoreTest, EveryTruncationIsRejected) {
  for (size_t n = 0; n < file_.size(); ++n) {
    auto ks = Keystore::Parse(ByteSpan(file_.data(), n), "ks");
    EXPECT_EQ(ks.status().code(), StatusCode::kDataLoss) << n;
  }
}

TEST_F(KeystoreTest, AlteredBytesNeverUnlock) {
  // Flip one bit in a sample of positions across the whole file: the header, the slot
  // record, the wrapped master key, the sealed bundle and the MAC. Each must be refused,
  // by the decoder, the slot's tag or the file MAC. (Each unlock costs one Argon2id run.)
  for (size_t pos = 0; pos < file_.size(); pos += 9) {
    Bytes bad = file_;
    bad[pos] ^= 0x01;
    auto ks = Keystore::Parse(bad, "ks");
    if (!ks.ok()) {
      EXPECT_NE(ks.status().code(), StatusCode::kOk);
      continue;
    }
    Status s = ks->Unlock(AsBytes("correct horse"));
    EXPECT_TRUE(s.code() == StatusCode::kDataLoss || s.code() == StatusCode::kUnauthenticated ||
                s.code() == StatusCode::kInvalidArgument)
        << "byte " << pos << ": " << s.ToString();
  }
}

TEST_F(KeystoreTest, AlteredBundleIsReportedAsTampering) {
  // The last 32 bytes are the MAC, and the sealed bundle ends right before it.
  Bytes bad = file_;
  bad[bad.size() - 40] ^= 0x80;
  auto ks = Keystore::Parse(bad, "ks");
  ASSERT_TRUE(ks.ok());
  EXPECT_EQ(ks->Unlock(AsBytes("correct horse")).code(), StatusCode::kDataLoss);
}

TEST_F(KeystoreTest, NewerVersionIsRefusedWithItsOwnTag) {
  Bytes newer = file_;
  newer[4] = 2;
  auto ks = Keystore::Parse(newer, "ks");
  EXPECT_EQ(ks.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ks.status().tag(), ErrorTag::kFormatVersion);
}

TEST(KeystoreCreateTest, RefusesWeakKdf) {
  crypto::Argon2idParams weak{.memory_kib = 32 * 1024, .iterations = 3, .parallelism = 1};
  auto ks = Keystore::Create(RepoId(), ConfigDigest(), AsBytes("pw"), weak, "x");
  EXPECT_EQ(ks.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(KeystoreTest, SlotsCanBeAddedReplacedAndRemovedButNotTheLast) {
  auto ks = Keystore::Parse(file_, "ks");
  ASSERT_TRUE(ks->Unlock(AsBytes("correct horse")).ok());
  EXPECT_EQ(ks->opened_slot(), 1u);
  auto second = ks->AddPassphraseSlot(AsBytes("second admin"), kKdf, "deputy");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*second, 2u);
  EXPECT_EQ(ks->AddPassphraseSlot(AsBytes("weak"), {1024, 1, 1}, "x").status().code(),
            StatusCode::kInvalidArgument);
  auto saved = ks->Serialize();
  ASSERT_TRUE(saved.ok());

  // Either passphrase opens the same keys; the deputy's slot is the one that opened.
  auto deputy = Keystore::Parse(*saved, "ks");
  ASSERT_TRUE(deputy->Unlock(AsBytes("second admin")).ok());
  EXPECT_EQ(deputy->opened_slot(), 2u);
  EXPECT_TRUE(deputy->keys().id_key.Equals(original_id_key_));

  // A new passphrase replaces the old one in its slot.
  ASSERT_TRUE(deputy->ChangePassphrase(1, AsBytes("new horse"), kKdf).ok());
  EXPECT_EQ(deputy->ChangePassphrase(9, AsBytes("x"), kKdf).code(), StatusCode::kNotFound);
  auto changed = deputy->Serialize();
  auto c = Keystore::Parse(*changed, "ks");
  EXPECT_EQ(c->Unlock(AsBytes("correct horse")).code(), StatusCode::kUnauthenticated);
  auto c2 = Keystore::Parse(*changed, "ks");
  ASSERT_TRUE(c2->Unlock(AsBytes("new horse")).ok());
  EXPECT_EQ(c2->slots()[0].label, "admin");

  // Removing a slot revokes it; the last slot stays.
  ASSERT_TRUE(c2->RemoveSlot(2).ok());
  EXPECT_EQ(c2->RemoveSlot(2).code(), StatusCode::kNotFound);
  Status last = c2->RemoveSlot(1);
  EXPECT_EQ(last.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(last.tag(), ErrorTag::kKeystore);
  auto removed = c2->Serialize();
  auto r = Keystore::Parse(*removed, "ks");
  EXPECT_EQ(r->slots().size(), 1u);
  EXPECT_EQ(r->Unlock(AsBytes("second admin")).code(), StatusCode::kUnauthenticated);
  // The old file with the deputy slot still works, which is why a revoked keystore file must be
  // destroyed too (doc/format/keys.md).
  auto old = Keystore::Parse(*saved, "ks");
  EXPECT_TRUE(old->Unlock(AsBytes("second admin")).ok());
}

TEST_F(KeystoreTest, KeyFileSlotOpensOnlyWithItsFile) {
  char tmpl[] = "/tmp/phivault-ks-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  auto ks = Keystore::Parse(file_, "ks");
  ASSERT_TRUE(ks->Unlock(AsBytes("correct horse")).ok());
  auto key = CreateKeyFile(dir + "/usb.key");
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(CreateKeyFile(dir + "/usb.key").status().code(), StatusCode::kAlreadyExists);
  auto id = ks->AddKeyFileSlot(key->span(), "usb");
  ASSERT_TRUE(id.ok());
  auto saved = ks->Serialize();

  auto read = ReadKeyFile(dir + "/usb.key");
  ASSERT_TRUE(read.ok());
  auto k1 = Keystore::Parse(*saved, "ks");
  ASSERT_TRUE(k1.ok()) << k1.status().ToString();
  EXPECT_EQ(k1->slots()[1].type, SlotType::kKeyFile);
  ASSERT_TRUE(k1->UnlockWith(SlotType::kKeyFile, read->span()).ok());
  EXPECT_EQ(k1->opened_slot(), *id);
  EXPECT_TRUE(k1->keys().id_key.Equals(original_id_key_));

  // Another key, or the passphrase offered as a key, opens nothing.
  auto other = CreateKeyFile(dir + "/other.key");
  auto k2 = Keystore::Parse(*saved, "ks");
  EXPECT_EQ(k2->UnlockWith(SlotType::kKeyFile, other->span()).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(k2->UnlockWith(SlotType::kKeyFile, AsBytes("correct horse")).code(),
            StatusCode::kUnauthenticated);
  // A key file others may read is refused.
  ASSERT_EQ(chmod((dir + "/usb.key").c_str(), 0644), 0);
  auto open = ReadKeyFile(dir + "/usb.key");
  EXPECT_EQ(open.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(open.status().tag(), ErrorTag::kKeystore);
  ASSERT_EQ(system(("rm -rf '" + dir + "'").c_str()), 0);
}

TEST_F(KeystoreTest, EpochsRotateAndRetiringOnesAreDroppedOnlyWhenAsked) {
  auto ks = Keystore::Parse(file_, "ks");
  ASSERT_TRUE(ks->Unlock(AsBytes("correct horse")).ok());
  Bytes e1(ks->keys().EpochKeyFor(1)->span().begin(), ks->keys().EpochKeyFor(1)->span().end());
  auto e2 = ks->StartEpoch(/*retire_others=*/false);
  ASSERT_TRUE(e2.ok());
  EXPECT_EQ(*e2, 2u);
  EXPECT_FALSE(ks->keys().reencryption_in_progress());
  auto e3 = ks->StartEpoch(/*retire_others=*/true);
  EXPECT_EQ(*e3, 3u);
  EXPECT_TRUE(ks->keys().reencryption_in_progress());

  // The state survives a save: a resumed re-encryption knows what it retires.
  auto again = Keystore::Parse(*ks->Serialize(), "ks");
  ASSERT_TRUE(again->Unlock(AsBytes("correct horse")).ok());
  EXPECT_EQ(again->keys().current_epoch, 3u);
  ASSERT_EQ(again->keys().epochs.size(), 3u);
  EXPECT_TRUE(again->keys().epochs[0].retiring);
  EXPECT_TRUE(again->keys().epochs[1].retiring);
  EXPECT_FALSE(again->keys().epochs[2].retiring);
  EXPECT_TRUE(again->keys().EpochKeyFor(1)->Equals(e1));  // old keys stay until dropped

  EXPECT_EQ(again->DropRetiringEpochs(), (std::vector<uint32_t>{1, 2}));
  auto final_ks = Keystore::Parse(*again->Serialize(), "ks");
  ASSERT_TRUE(final_ks->Unlock(AsBytes("correct horse")).ok());
  EXPECT_EQ(final_ks->keys().EpochKeyFor(1), nullptr);
  EXPECT_EQ(final_ks->keys().EpochKeyFor(2), nullptr);
  EXPECT_NE(final_ks->keys().EpochKeyFor(3), nullptr);
  EXPECT_FALSE(final_ks->keys().reencryption_in_progress());
  // The next epoch never reuses a dropped number.
  EXPECT_EQ(*final_ks->StartEpoch(false), 4u);
}

TEST_F(KeystoreTest, TokenAndRecoverySlotsOpenOnlyWithTheirSecrets) {
  auto ks = Keystore::Parse(file_, "ks");
  ASSERT_TRUE(ks->Unlock(AsBytes("correct horse")).ok());
  Bytes token_key(32, 0x5a), kit_secret(32, 0x33);
  SlotInfo token;
  token.label = "hsm";
  token.token_module = "/usr/lib/softhsm/libsofthsm2.so";
  token.token_label = "backup-kms";
  token.token_key_label = "kek-1";
  token.token_wrapped = Bytes(40, 0x77);
  auto t = ks->AddPkcs11Slot(token_key, token);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  SlotInfo kit;
  kit.label = "kit";
  kit.kit_id.fill(0x11);
  kit.kit_threshold = 3;
  kit.kit_count = 5;
  auto k = ks->AddRecoverySlot(kit_secret, kit);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  SlotInfo bad_kit = kit;
  bad_kit.kit_threshold = 1;
  EXPECT_EQ(ks->AddRecoverySlot(kit_secret, bad_kit).status().code(), StatusCode::kInvalidArgument);

  auto parsed = Keystore::Parse(*ks->Serialize(), "ks");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->slots().size(), 3u);
  const SlotInfo& pt = parsed->slots()[1];
  EXPECT_EQ(pt.type, SlotType::kPkcs11);
  EXPECT_EQ(pt.token_label, "backup-kms");
  EXPECT_EQ(pt.token_key_label, "kek-1");
  EXPECT_EQ(pt.token_wrapped, Bytes(40, 0x77));
  const SlotInfo& pk = parsed->slots()[2];
  EXPECT_EQ(pk.type, SlotType::kRecoveryKit);
  EXPECT_EQ(pk.kit_id, kit.kit_id);
  EXPECT_EQ(pk.kit_threshold, 3);
  EXPECT_EQ(pk.kit_count, 5);

  // Each slot opens with its own secret only; another slot's secret is a wrong credential.
  EXPECT_EQ(parsed->UnlockSlot(*t, kit_secret).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(parsed->UnlockSlot(*k, token_key).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(parsed->UnlockSlot(99, token_key).code(), StatusCode::kNotFound);
  EXPECT_FALSE(parsed->unlocked());
  ASSERT_TRUE(parsed->UnlockSlot(*k, kit_secret).ok());
  EXPECT_EQ(parsed->opened_slot(), *k);
  EXPECT_TRUE(parsed->keys().id_key.Equals(original_id_key_));
  auto again = Keystore::Parse(*ks->Serialize(), "ks");
  ASSERT_TRUE(again->UnlockSlot(*t, token_key).ok());
  EXPECT_TRUE(again->keys().id_key.Equals(original_id_key_));
}

TEST(KeyLogTest, RecordsOperationsWithoutSecrets) {
  char tmpl[] = "/tmp/phivault-ks-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/abc.keystore";
  EXPECT_EQ(KeyLogPath(path), std::string(tmpl) + "/abc.keylog");
  ASSERT_TRUE(AppendKeyEvent(path, {"key add", 2, "passphrase", "deputy \"quoted\"", 1, {}}).ok());
  ASSERT_TRUE(AppendKeyEvent(path, {"key remove", 1, "passphrase", "", 1,
                                    Status(StatusCode::kFailedPrecondition, "last slot")})
                  .ok());
  auto text = ReadFile(KeyLogPath(path));
  ASSERT_TRUE(text.ok());
  std::string s(text->begin(), text->end());
  EXPECT_NE(s.find("\"operation\":\"key add\",\"slot\":2,\"slot_type\":\"passphrase\""),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("\"outcome\":\"failed\",\"error\":\"FAILED_PRECONDITION\""), std::string::npos);
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 2);
  struct stat st;
  ASSERT_EQ(stat(KeyLogPath(path).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(system(("rm -rf '" + std::string(tmpl) + "'").c_str()), 0);
}

TEST(KeystoreFileTest, SaveLoadAndPermissions) {
  char tmpl[] = "/tmp/phivault-ks-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = std::string(tmpl) + "/keys";
  std::string path = KeystorePath(dir, RepoId());
  auto ks = Keystore::Create(RepoId(), ConfigDigest(), AsBytes("pw pw pw"), kKdf, "x");
  ASSERT_TRUE(ks.ok());
  ASSERT_TRUE(ks->Save(path).ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto loaded = Keystore::Load(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->Unlock(AsBytes("pw pw pw")).ok());
  auto missing = Keystore::Load(dir + "/none.keystore");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().tag(), ErrorTag::kKeystore);
  ASSERT_EQ(system(("rm -rf '" + std::string(tmpl) + "'").c_str()), 0);
}

TEST(KeystoreLocationTest, RefusesKeystoreInsideRepository) {
  EXPECT_EQ(CheckKeystoreOutsideRepository("/srv/repo/keys", "/srv/repo").tag(),
            ErrorTag::kKeystore);
  EXPECT_EQ(CheckKeystoreOutsideRepository("/srv/repo", "/srv/repo").code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(CheckKeystoreOutsideRepository("/srv/repo-keys", "/srv/repo").ok());
  EXPECT_TRUE(CheckKeystoreOutsideRepository("/media/usb/keys", "/srv/repo").ok());
}

TEST(KeystoreLocationTest, DefaultFollowsEnvironment) {
  setenv("PHIVAULT_KEYSTORE", "/media/usb/phivault", 1);
  EXPECT_EQ(DefaultKeystoreDir(), "/media/usb/phivault");
  unsetenv("PHIVAULT_KEYSTORE");
  setenv("XDG_CONFIG_HOME", "/tmp/xdg", 1);
  EXPECT_EQ(DefaultKeystoreDir(), "/tmp/xdg/phivault/keystore");
  unsetenv("XDG_CONFIG_HOME");
}

}  // namespace
}  // namespace phivault::keys
