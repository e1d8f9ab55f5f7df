// Parsing the JSON answers of the HTTP APIs in tests.
#pragma once

#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <simdjson.h>

namespace spate::testing {

// `body` as a document of `parser`. Not JSON: a test failure naming the body, and an empty
// object, so the checks that follow fail instead of crashing.
inline simdjson::dom::element ParseJson(simdjson::dom::parser& parser, const std::string& body) {
  simdjson::dom::element doc;
  const auto error = parser.parse(body).get(doc);
  EXPECT_EQ(error, simdjson::SUCCESS) << body;
  if (error != simdjson::SUCCESS) return parser.parse(std::string_view("{}")).value();
  return doc;
}

}  // namespace spate::testing
