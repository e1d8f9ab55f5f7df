// --http ADDR (the config row `http`): the forms it takes, what it refuses, and its help.
#include <string>

#include <gtest/gtest.h>

#include "config/config.h"

namespace spate {
namespace {

TEST(DashboardFlag, TakesHostPortColonPortAndPort) {
  struct Case {
    std::string text, host;
    int port;
    bool ipv6;
  };
  for (const Case& c : std::vector<Case>{{"127.0.0.1:9464", "127.0.0.1", 9464, false},
                                         {":9464", "127.0.0.1", 9464, false},
                                         {"9464", "127.0.0.1", 9464, false},
                                         {"0", "127.0.0.1", 0, false},
                                         {"0.0.0.0:80", "0.0.0.0", 80, false},
                                         {"localhost:65535", "127.0.0.1", 65535, false},
                                         {"[::1]:9464", "::1", 9464, true},
                                         {"[::]:0", "::", 0, true}}) {
    auto address = ParseListenAddress(c.text);
    ASSERT_TRUE(address.ok()) << c.text << ": " << address.status().message();
    EXPECT_EQ(address->host, c.host) << c.text;
    EXPECT_EQ(address->port, c.port) << c.text;
    EXPECT_EQ(address->ipv6, c.ipv6) << c.text;
  }
  EXPECT_EQ(ParseListenAddress("[::1]:1")->UrlHost(), "[::1]");
  EXPECT_EQ(ParseListenAddress("1")->UrlHost(), "127.0.0.1");
}

TEST(DashboardFlag, RefusesWhatIsNotAnAddressSayingWhatToWrite) {
  for (const char* text : {"", "65536", "-1", "+80", "9464x", "host", "127.0.0.1:", "1.2.3:80",
                           "256.0.0.1:80", "example.com:80", "::1:80", "[::1]", "[::1]80",
                           "[zz]:80", "[]:80", " 9464", "127.0.0.1:99999999999"}) {
    auto address = ParseListenAddress(text);
    ASSERT_FALSE(address.ok()) << "'" << text << "' was taken";
    EXPECT_NE(address.status().message().find(std::string("'") + text + "'"), std::string::npos)
        << address.status().message();
  }
  EXPECT_NE(ParseListenAddress("70000").status().message().find("0 to 65535"), std::string::npos);
  EXPECT_NE(ParseListenAddress("::1:80").status().message().find("[::1]:9464"), std::string::npos);
}

TEST(DashboardFlag, ConfigRowValidatesAndIsOffByDefault) {
  Config config;
  EXPECT_EQ(config.GetString("http"), "");
  EXPECT_TRUE(config.Set("http", "127.0.0.1:0").ok());
  const Status bad = config.Set("http", "127.0.0.1:http");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("http"), std::string::npos) << bad.message();
  // YAML takes it too.
  Config yaml;
  EXPECT_TRUE(yaml.LoadYamlString("http: ':9464'\n", "test").ok());
  EXPECT_EQ(yaml.GetString("http"), ":9464");
  EXPECT_FALSE(yaml.LoadYamlString("http: 'nope'\n", "test2").ok());

  const PropertyDef* def = FindProperty("http");
  ASSERT_NE(def, nullptr);
  const std::string help = HelpText(*def);
  EXPECT_NE(help.find("(default: off)"), std::string::npos) << help;
  EXPECT_NE(help.find("127.0.0.1"), std::string::npos) << help;
  EXPECT_NE(help.find("/metrics"), std::string::npos) << help;
}

}  // namespace
}  // namespace spate
