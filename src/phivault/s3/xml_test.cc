#include "phivault/s3/xml.h"

#include <gtest/gtest.h>

namespace phivault::s3 {
namespace {

TEST(XmlTest, FindsElementsAndIgnoresLongerNames) {
  std::string doc =
      "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/\">"
      "<KeyCount>2</KeyCount><Contents><Key>a&amp;b</Key><Size>3</Size></Contents>"
      "<Contents><Key>c</Key><Size>40</Size></Contents><IsTruncated>false</IsTruncated>"
      "<Empty/></ListBucketResult>";
  auto contents = XmlElements(doc, "Contents");
  ASSERT_EQ(contents.size(), 2u);
  EXPECT_EQ(XmlText(contents[0], "Key"), "a&b");
  EXPECT_EQ(XmlText(contents[1], "Size"), "40");
  EXPECT_EQ(XmlText(doc, "KeyCount"), "2");
  EXPECT_EQ(XmlElements(doc, "Key").size(), 2u);
  EXPECT_EQ(XmlText(doc, "Empty"), "");
  EXPECT_EQ(XmlText(doc, "Missing"), std::nullopt);
  EXPECT_EQ(XmlElements(doc, "ListBucketResult").size(), 1u);
}

TEST(XmlTest, EntitiesRoundTrip) {
  EXPECT_EQ(XmlUnescape("&lt;&gt;&amp;&quot;&apos;&#65;&#x42;&#x1F600;"),
            "<>&\"'AB\xF0\x9F\x98\x80");
  EXPECT_EQ(XmlUnescape(XmlEscape("a<b>&\"'")), "a<b>&\"'");
  EXPECT_EQ(XmlUnescape("no entity & here"), "no entity & here");
}

TEST(XmlTest, TruncatedDocumentsYieldWhatIsComplete) {
  EXPECT_TRUE(XmlElements("<Key>abc", "Key").empty());
  EXPECT_TRUE(XmlElements("<Key", "Key").empty());
}

}  // namespace
}  // namespace phivault::s3
