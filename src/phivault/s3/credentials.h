// Credentials: the access key pair that signs S3 requests.
//
// They come from the standard AWS environment variables (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, optionally AWS_SESSION_TOKEN) or, when those are not set, from the
// shared credentials file named by AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials),
// profile AWS_PROFILE (default "default"). A credentials file that group or others may read is
// refused, as ssh refuses such a key. Command-line arguments are never a source.
//
// The secret lives in a SecretBytes (wiped when released) and is never formatted into a message:
// errors name the variable or file, never the value.
//
// Thread safety: plain values.
#pragma once

#include <string>

#include "phivault/base/secret.h"
#include "phivault/base/status.h"

namespace phivault::s3 {

struct Credentials {
  std::string access_key_id;
  SecretBytes secret_access_key;
  SecretBytes session_token;  // empty unless temporary credentials
  std::string source;         // "environment" or the file's path, for messages
};

// Finds credentials as described above. kUnauthenticated tagged kStorageAuth when there are none
// or a file is unsafe or malformed.
Result<Credentials> LoadCredentials();

// Parses the INI text of a shared credentials file and takes `profile` from it. `source` names the
// file in messages.
Result<Credentials> ParseCredentialsFile(std::string_view text, std::string_view profile,
                                         std::string_view source);

// The region: AWS_REGION, else AWS_DEFAULT_REGION, else "us-east-1".
std::string RegionFromEnvironment();

}  // namespace phivault::s3
