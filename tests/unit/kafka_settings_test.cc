// Kafka settings without a broker: option parsing, secret handling, configuration errors.
#include <gtest/gtest.h>

#include "transport/kafka.h"

namespace spate {
namespace {

TEST(KafkaSettings, OptionsAreKeyValueAndValuesMayHoldEqualsAndCommas) {
  auto options = ParseKafkaOptions({"security.protocol=SASL_SSL", "sasl.jaas=a=b,c"});
  ASSERT_TRUE(options.ok()) << options.status().message();
  ASSERT_EQ(options.value().size(), 2u);
  EXPECT_EQ(options.value()[1].first, "sasl.jaas");
  EXPECT_EQ(options.value()[1].second, "a=b,c");
  EXPECT_FALSE(ParseKafkaOptions({"=value"}).ok());
  EXPECT_FALSE(ParseKafkaOptions({"novalue"}).ok());
}

TEST(KafkaSettings, AMalformedSecretIsNotEchoed) {
  auto options = ParseKafkaOptions({"sasl.password:hunter2"});
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().message().find("hunter2"), std::string::npos)
      << options.status().message();
}

TEST(KafkaSettings, SecretKeysAreRecognised) {
  for (const char* key : {"sasl.password", "ssl.key.password", "sasl.oauthbearer.client.secret",
                          "ssl.keystore.password", "sasl.oauthbearer.config"}) {
    EXPECT_TRUE(IsSecretKafkaKey(key)) << key;
  }
  for (const char* key : {"bootstrap.servers", "security.protocol", "linger.ms"}) {
    EXPECT_FALSE(IsSecretKafkaKey(key)) << key;
  }
}

TEST(KafkaSettings, ConfigErrorsNameTheKeyAndShowAPlainValue) {
  KafkaSettings settings;
  settings.options = {{"no.such.property", "1"}};
  auto conf = MakeKafkaConf(settings, {});
  ASSERT_FALSE(conf.ok());
  EXPECT_NE(conf.status().message().find("no.such.property"), std::string::npos);

  settings.options = {{"linger.ms", "not-a-number"}};
  conf = MakeKafkaConf(settings, {});
  ASSERT_FALSE(conf.ok());
  EXPECT_NE(conf.status().message().find("not-a-number"), std::string::npos)
      << "a plain value helps the user: " << conf.status().message();
}

TEST(KafkaSettings, UserOptionsOverrideSpatesDefaults) {
  KafkaSettings settings;
  settings.options = {{"linger.ms", "42"}};
  auto conf = MakeKafkaConf(settings, {{"linger.ms", "5"}});
  ASSERT_TRUE(conf.ok()) << conf.status().message();
  char value[64];
  size_t size = sizeof(value);
  ASSERT_EQ(rd_kafka_conf_get(conf.value().get(), "linger.ms", value, &size), RD_KAFKA_CONF_OK);
  EXPECT_STREQ(value, "42");
}

}  // namespace
}  // namespace spate
