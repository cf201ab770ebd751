// The few pieces of XML that S3 answers need: the text of named elements. S3's responses are
// flat and machine-written (ListObjectsV2, error bodies, multipart and object-lock documents), so
// a scanner for "<Tag>text</Tag>" with the five predefined entities is enough; no DTDs, no
// namespaces beyond ignoring attributes, no CDATA.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace phivault::s3 {

// The raw contents of every <tag>…</tag> in `doc`, in document order (elements of the same name
// nested inside each other are not supported; S3 has none).
std::vector<std::string_view> XmlElements(std::string_view doc, std::string_view tag);

// The unescaped text of the first <tag> element, or nullopt.
std::optional<std::string> XmlText(std::string_view doc, std::string_view tag);

// &lt; &gt; &amp; &quot; &apos; and numeric references replaced by their characters.
std::string XmlUnescape(std::string_view s);
// The reverse, for text put into a request body.
std::string XmlEscape(std::string_view s);

}  // namespace phivault::s3
