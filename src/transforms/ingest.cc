#include "transforms/ingest.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/json_writer.h"

namespace spate {
namespace {

namespace od = simdjson::ondemand;

// Deeper nesting than this is not a user record; refusing it bounds the recursion.
constexpr int kMaxDepth = 32;

bool IsSecretKey(std::string_view key) {
  return std::find(std::begin(kLoginSecrets), std::end(kLoginSecrets), key) !=
         std::end(kLoginSecrets);
}

simdjson::error_code CopyValue(od::value value, std::string& out, int depth);

// Copies an object, dropping login secrets at any depth: the API nests them in "login",
// legacy documents put them in "user"; dropping the five names everywhere covers both and
// any shape still to come.
simdjson::error_code CopyObject(od::object object, std::string& out, int depth) {
  if (depth > kMaxDepth) return simdjson::DEPTH_ERROR;
  out.push_back('{');
  bool first = true;
  for (auto field : object) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return err;
    od::value value;
    if (auto err = field.value().get(value)) return err;
    if (IsSecretKey(key)) continue;  // Not consumed: the iterator skips it.
    if (!first) out.push_back(',');
    first = false;
    AppendJsonString(out, key);
    out.push_back(':');
    if (auto err = CopyValue(value, out, depth + 1)) return err;
  }
  out.push_back('}');
  return simdjson::SUCCESS;
}

simdjson::error_code CopyValue(od::value value, std::string& out, int depth) {
  od::json_type type;
  if (auto err = value.type().get(type)) return err;
  switch (type) {
    case od::json_type::object: {
      od::object object;
      if (auto err = value.get_object().get(object)) return err;
      return CopyObject(object, out, depth);
    }
    case od::json_type::array: {
      od::array array;
      if (auto err = value.get_array().get(array)) return err;
      if (depth > kMaxDepth) return simdjson::DEPTH_ERROR;
      out.push_back('[');
      bool first = true;
      for (auto element : array) {
        od::value item;
        if (auto err = element.get(item)) return err;
        if (!first) out.push_back(',');
        first = false;
        if (auto err = CopyValue(item, out, depth + 1)) return err;
      }
      out.push_back(']');
      return simdjson::SUCCESS;
    }
    default: {
      // Scalars are copied as their raw token, so numbers keep their exact text and strings
      // their escapes. Validate the scalar so garbage like `tru` is caught here.
      std::string_view raw = TrimJsonSpace(value.raw_json_token());
      switch (type) {
        case od::json_type::string: {
          std::string_view ignored;
          if (auto err = value.get_string().get(ignored)) return err;
          break;
        }
        case od::json_type::number: {
          od::number ignored;
          if (auto err = value.get_number().get(ignored)) return err;
          break;
        }
        case od::json_type::boolean: {
          bool ignored;
          if (auto err = value.get_bool().get(ignored)) return err;
          break;
        }
        default: {
          bool is_null = false;
          if (auto err = value.is_null().get(is_null)) return err;
          if (!is_null) return simdjson::N_ATOM_ERROR;
        }
      }
      out.append(raw);
      return simdjson::SUCCESS;
    }
  }
}

std::string Excerpt(std::string_view s, size_t max = 200) {
  if (s.size() <= max) return std::string(s);
  return std::string(s.substr(0, max)) + "...";
}

}  // namespace

std::string ScrubSecrets(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  size_t i = 0;
  while (i < raw.size()) {
    if (raw[i] != '"') {
      out.push_back(raw[i++]);
      continue;
    }
    // A quoted token: copy it, then see whether it is a secret's key.
    size_t end = i + 1;
    while (end < raw.size() && raw[end] != '"') end += raw[end] == '\\' ? 2 : 1;
    end = std::min(end + 1, raw.size());
    const std::string_view token = raw.substr(i, end - i);
    out.append(token);
    i = end;
    const bool secret = token.size() >= 2 && IsSecretKey(token.substr(1, token.size() - 2));
    if (!secret) continue;
    size_t j = i;
    while (j < raw.size() && IsJsonSpace(raw[j])) ++j;
    if (j >= raw.size() || raw[j] != ':') continue;  // A value that happens to say "salt".
    ++j;
    while (j < raw.size() && IsJsonSpace(raw[j])) ++j;
    out.append(raw.substr(i, j - i));  // The colon and spacing.
    if (j < raw.size() && raw[j] == '"') {
      size_t value_end = j + 1;
      while (value_end < raw.size() && raw[value_end] != '"') {
        value_end += raw[value_end] == '\\' ? 2 : 1;
      }
      out.append("\"[removed]\"");
      i = std::min(value_end + 1, raw.size());
    } else {
      size_t value_end = j;
      while (value_end < raw.size() && raw[value_end] != ',' && raw[value_end] != '}' &&
             raw[value_end] != ']') {
        ++value_end;
      }
      out.append("null");
      i = value_end;
    }
  }
  return out;
}

Status Ingestor::StripSecrets(std::string_view user_json, std::string& out) {
  out.clear();
  od::document doc;
  if (auto err = parser_.iterate(buffer_.Set(user_json)).get(doc)) {
    return Status::InvalidInput(fmt::format("malformed JSON: {}", simdjson::error_message(err)));
  }
  od::object object;
  if (auto err = doc.get_object().get(object)) {
    return Status::InvalidInput(
        err == simdjson::INCORRECT_TYPE
            ? std::string("not a JSON object (a user record must be an object)")
            : fmt::format("malformed JSON: {}", simdjson::error_message(err)));
  }
  if (auto err = CopyObject(object, out, 0)) {
    return Status::InvalidInput(fmt::format("malformed JSON: {}", simdjson::error_message(err)));
  }
  if (!AtEnd(doc)) return Status::InvalidInput("malformed JSON: trailing content after object");
  return Status::Ok();
}

void Ingestor::AddUser(std::string_view user_json, uint64_t position, Batch& out) {
  RawRecord record;
  record.position = position;
  Status status = StripSecrets(user_json, record.json);
  if (status.ok()) {
    out.records.push_back(std::move(record));
    return;
  }
  // The bytes did not parse, so StripSecrets could not remove anything: scrub them by hand.
  out.dead.push_back(DeadLetter{status.message(), out.origin, position, ScrubSecrets(user_json)});
}

Result<uint64_t> Ingestor::SplitResponse(std::string_view document, uint64_t first_position,
                                         Batch& out) {
  // All or nothing: a document that is malformed anywhere adds nothing, so an HTTP caller
  // can retry it and a file caller can dead-letter it whole.
  const size_t records_before = out.records.size();
  const size_t dead_before = out.dead.size();
  auto fail = [&](std::string reason) -> Result<uint64_t> {
    out.records.resize(records_before);
    out.dead.resize(dead_before);
    return Status::InvalidInput(std::move(reason));
  };
  auto malformed = [&](simdjson::error_code err) {
    return fail(fmt::format("malformed JSON document: {}", simdjson::error_message(err)));
  };

  od::document doc;
  if (auto err = parser_.iterate(buffer_.Set(document)).get(doc)) return malformed(err);
  od::object top;
  if (doc.get_object().get(top)) {
    return fail("not an API response: the document is not a JSON object");
  }
  uint64_t seen = 0;
  bool has_results = false;
  std::string api_error;
  for (auto field : top) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return malformed(err);
    if (key == "error") {
      std::string_view message;
      if (field.value().get_string().get(message)) message = "(non-string error field)";
      api_error = std::string(message);
      continue;
    }
    if (key != "results") continue;  // "info" and anything else: skipped, still validated.
    od::array results;
    if (auto err = field.value().get_array().get(results)) {
      return err == simdjson::INCORRECT_TYPE ? fail("not an API response: results is not an array")
                                             : malformed(err);
    }
    has_results = true;
    for (auto element : results) {
      od::value value;
      if (auto err = element.get(value)) return malformed(err);
      const uint64_t position = first_position + seen++;
      od::json_type type;
      if (auto err = value.type().get(type)) return malformed(err);
      if (type != od::json_type::object) {
        // A scalar or array where a user belongs: keep it for a human, go on with the rest.
        std::string raw;
        if (auto err = CopyValue(value, raw, 0)) return malformed(err);
        out.dead.push_back(DeadLetter{"results element is not a JSON object", out.origin, position,
                                      std::move(raw)});
        continue;
      }
      od::object user;
      if (auto err = value.get_object().get(user)) return malformed(err);
      RawRecord record;
      record.position = position;
      if (auto err = CopyObject(user, record.json, 0)) return malformed(err);
      out.records.push_back(std::move(record));
    }
  }
  if (!AtEnd(doc)) return fail("malformed JSON document: trailing content");
  if (!api_error.empty()) {
    out.records.resize(records_before);
    out.dead.resize(dead_before);
    return Status::Fatal(fmt::format("the API answered with an error: {}", Excerpt(api_error)));
  }
  if (!has_results) return fail("not an API response: no \"results\" array");
  return seen;
}

}  // namespace spate
