// SigV4 against AWS's published vectors: the generic test suite (service "service") and the four
// worked S3 examples of the S3 API reference. The vectors are in testdata/sigv4 (SOURCES.md says
// where each came from).
#include "phivault/s3/sigv4.h"

#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "phivault/s3/location.h"

namespace phivault::s3 {
namespace {

const std::string kDir = PHIVAULT_SIGV4_TESTDATA;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

SecretBytes SecretOf(std::string_view s) {
  return SecretBytes(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

QueryList ParseQuery(std::string_view q) {
  QueryList out;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    size_t eq = pair.find('=');
    out.emplace_back(PercentDecode(pair.substr(0, eq)),
                     eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1)));
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
  }
  return out;
}

// Parses a suite .req file: request line, headers (continuation lines are further values of the
// header above them), blank line, body.
SigningRequest ParseReq(const std::string& text, std::string* amz_date) {
  SigningRequest req;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  size_t first = line.find(' ');
  size_t last = line.rfind(' ');
  req.method = line.substr(0, first);
  std::string uri = line.substr(first + 1, last - first - 1);
  size_t qmark = uri.find('?');
  req.path = UriEncode(PercentDecode(uri.substr(0, qmark)), /*keep_slash=*/true);
  if (qmark != std::string::npos) req.query = ParseQuery(uri.substr(qmark + 1));
  std::string body;
  bool in_body = false;
  while (std::getline(in, line)) {
    if (in_body) {
      body += (body.empty() ? "" : "\n") + line;
      continue;
    }
    if (line.empty()) {
      in_body = true;
      continue;
    }
    if (line[0] == ' ' || line[0] == '\t') {
      req.headers.emplace_back(req.headers.back().first, line);
      continue;
    }
    size_t colon = line.find(':');
    req.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
    if (line.substr(0, colon) == "X-Amz-Date") *amz_date = line.substr(colon + 1);
  }
  req.payload_hash = Sha256Hex(AsBytes(body));
  return req;
}

std::vector<std::string> SuiteCases() {
  std::vector<std::string> names;
  DIR* d = opendir(kDir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 4 && n.ends_with(".req")) names.push_back(n.substr(0, n.size() - 4));
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

TEST(SigV4SuiteTest, EveryPublishedCaseMatches) {
  std::vector<std::string> cases = SuiteCases();
  ASSERT_GE(cases.size(), 20u) << "test vectors missing from " << kDir;
  SecretBytes secret = SecretOf("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  for (const std::string& name : cases) {
    SCOPED_TRACE(name);
    std::string amz_date;
    SigningRequest req = ParseReq(Slurp(kDir + "/" + name + ".req"), &amz_date);
    ASSERT_EQ(amz_date, "20150830T123600Z");
    auto sig = SignV4(req, "AKIDEXAMPLE", secret, {"20150830", "us-east-1", "service"}, amz_date);
    ASSERT_TRUE(sig.ok());
    EXPECT_EQ(sig->canonical_request, Slurp(kDir + "/" + name + ".creq"));
    EXPECT_EQ(sig->string_to_sign, Slurp(kDir + "/" + name + ".sts"));
    EXPECT_EQ(sig->authorization, Slurp(kDir + "/" + name + ".authz"));
  }
}

struct S3Example {
  std::map<std::string, std::string> fields;
  HeaderList headers;
  std::vector<std::string> creq_lines;
};

std::vector<S3Example> ParseExamples(const std::string& text) {
  std::vector<S3Example> out;
  std::istringstream in(text);
  std::string line;
  S3Example cur;
  bool started = false;
  auto flush = [&] {
    if (started) out.push_back(cur);
    cur = S3Example();
  };
  while (std::getline(in, line)) {
    if (line == "===") {
      flush();
      started = true;
      continue;
    }
    if (!started || line.empty() || line[0] == '#') continue;
    size_t colon = line.find(':');
    std::string key = line.substr(0, colon);
    std::string value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    if (key == "header") {
      size_t c = value.find(':');
      std::string v = value.substr(c + 1);
      while (!v.empty() && v[0] == ' ') v.erase(0, 1);
      cur.headers.emplace_back(value.substr(0, c), v);
    } else if (key == "canonical-request-line") {
      cur.creq_lines.push_back(value);
    } else {
      cur.fields[key] = value;
    }
  }
  flush();
  return out;
}

TEST(SigV4S3ExamplesTest, TheFourWorkedExamplesMatch) {
  auto examples = ParseExamples(Slurp(kDir + "/s3_examples.txt"));
  ASSERT_EQ(examples.size(), 4u);
  for (const S3Example& ex : examples) {
    auto f = ex.fields;
    SCOPED_TRACE(f["name"]);
    SigningRequest req;
    req.method = f["method"];
    req.path = UriEncode(f["path"], true);
    req.query = ParseQuery(f["query"]);
    req.headers = ex.headers;
    req.payload_hash = f["payload-sha256"];
    EXPECT_EQ(Sha256Hex(AsBytes(f["payload"])), req.payload_hash);
    SecretBytes secret = SecretOf(f["secret-key"]);
    auto sig = SignV4(req, f["access-key"], secret,
                      {f["amz-date"].substr(0, 8), f["region"], f["service"]}, f["amz-date"]);
    ASSERT_TRUE(sig.ok());
    std::string creq;
    for (size_t i = 0; i < ex.creq_lines.size(); ++i) {
      creq += (i ? "\n" : "") + ex.creq_lines[i];
    }
    EXPECT_EQ(sig->canonical_request, creq);
    EXPECT_EQ(Sha256Hex(AsBytes(sig->canonical_request)), f["canonical-request-sha256"]);
    EXPECT_EQ(sig->signature, f["signature"]);
  }
}

TEST(SigV4Test, CanonicalQuerySortsAndEncodes) {
  EXPECT_EQ(CanonicalQuery({{"prefix", "data/"}, {"list-type", "2"}, {"uploads", ""}}),
            "list-type=2&prefix=data%2F&uploads=");
  EXPECT_EQ(CanonicalQuery({{"a", "x y+z~"}}), "a=x%20y%2Bz~");
}

TEST(SigV4Test, AmzDateIsUtc) { EXPECT_EQ(AmzDate(1440938160), "20150830T123600Z"); }

TEST(SigV4Test, OneChangedByteChangesTheSignature) {
  SigningRequest req{"GET",
                     "/b/k",
                     {},
                     {{"host", "h"}, {"x-amz-date", "20150830T123600Z"}},
                     Sha256Hex(AsBytes(""))};
  SecretBytes secret = SecretOf("secret");
  auto a = SignV4(req, "AK", secret, {"20150830", "us-east-1", "s3"}, "20150830T123600Z");
  req.path = "/b/K";
  auto b = SignV4(req, "AK", secret, {"20150830", "us-east-1", "s3"}, "20150830T123600Z");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->signature, b->signature);
  EXPECT_EQ(a->authorization.find("secret"), std::string::npos);
}

}  // namespace
}  // namespace phivault::s3
