// Kafka options are checked before anything connects, and their errors never show a secret
// (issue 17, item 23 and the redaction of items 2-3): values are hidden by the property they
// belong to (a secret one, or one librdkafka does not know: maybe a mistyped secret key),
// never by looking for the value in a message.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "transport/kafka.h"

namespace spate {
namespace {

TEST(KafkaRedaction, CheckKafkaOptionsNamesTheBadProperty) {
  EXPECT_TRUE(CheckKafkaOptions({{"linger.ms", "7"}, {"security.protocol", "SASL_SSL"}}).ok());
  const Status unknown = CheckKafkaOptions({{"linger.ms", "7"}, {"bogus.prop", "1"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.message().find("bogus.prop"), std::string::npos) << unknown.message();
  EXPECT_NE(unknown.message().find("no such librdkafka property"), std::string::npos)
      << unknown.message();
  const Status invalid = CheckKafkaOptions({{"linger.ms", "soon"}});
  ASSERT_FALSE(invalid.ok());
  EXPECT_NE(invalid.message().find("linger.ms"), std::string::npos) << invalid.message();
}

TEST(KafkaRedaction, SecretPropertiesAreKnownByName) {
  for (const char* key : {"sasl.password", "ssl.key.password", "ssl.key.pem",
                          "ssl.keystore.password", "sasl.oauthbearer.client.secret",
                          "sasl.oauthbearer.config", "sasl.oauthbearer.extensions"}) {
    EXPECT_TRUE(IsSecretKafkaKey(key)) << key;
  }
  for (const char* key : {"sasl.username", "ssl.ca.location", "linger.ms", "bootstrap.servers"}) {
    EXPECT_FALSE(IsSecretKafkaKey(key)) << key;
  }
}

// Property: for random values (of any bytes but NUL) under secret keys, unknown keys and
// items without '=', no error message contains the value.
TEST(KafkaRedaction, NoErrorEverShowsTheValueOfASecretOrUnknownProperty) {
  std::mt19937 random(31337);
  const std::vector<std::string> keys = {
      "sasl.password",           "ssl.key.password", "ssl.key.pem", "ssl.keystore.password",
      "sasl.oauthbearer.config", "sasl.pasword",     "no.such.key", "ssl.key.passwd"};
  for (int round = 0; round < 2000; ++round) {
    std::string value;
    const size_t size = 6 + random() % 20;
    for (size_t i = 0; i < size; ++i) value.push_back(static_cast<char>(1 + random() % 255));
    const std::string& key = keys[random() % keys.size()];
    SCOPED_TRACE(key);
    KafkaSettings settings;
    settings.options = {{key, value}};
    if (Status s = CheckKafkaOptions(settings.options); !s.ok()) {
      EXPECT_EQ(s.message().find(value), std::string::npos) << s.message();
    }
    auto conf = MakeKafkaConf(settings, {});
    if (!conf.ok()) {
      EXPECT_EQ(conf.status().message().find(value), std::string::npos);
    }
    // The value typed without its key and '='.
    if (value.find('=') == std::string::npos) {
      auto parsed = ParseKafkaOptions({value});
      ASSERT_FALSE(parsed.ok());
      EXPECT_EQ(parsed.status().message().find(value), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace spate
