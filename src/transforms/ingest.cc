#include "transforms/ingest.h"

#include <algorithm>
#include <array>
#include <cstring>

#include <fmt/format.h>

#include "core/json_writer.h"

namespace spate {
namespace {

namespace od = simdjson::ondemand;

// Deeper nesting than this is not a user record; refusing it bounds the recursion.
constexpr int kMaxDepth = 32;

// Where a reader's eye (or a lenient parser) could see one of the five names: the code point
// `cp` folded to the lower-case ASCII letter or digit it may be read as, 0 for "something
// else", or -1 for a character nobody sees (skipped when matching).
int Fold(uint32_t cp) {
  if (cp < 0x80) {
    if (cp < 0x20 || cp == 0x7f) return -1;  // Control characters do not show.
    if (cp >= 'A' && cp <= 'Z') return static_cast<int>(cp - 'A' + 'a');
    return static_cast<int>(cp);
  }
  if (cp == 0x17f) return 's';                                 // Long s: folds to s.
  if (cp >= 0xff01 && cp <= 0xff5e) return Fold(cp - 0xfee0);  // Fullwidth forms.
  if (cp >= 0x1d400 && cp <= 0x1d6a3) {                        // Math letters.
    const uint32_t k = (cp - 0x1d400) % 52;
    return static_cast<int>(k < 26 ? 'a' + k : 'a' + (k - 26));
  }
  if (cp >= 0x1d7ce && cp <= 0x1d7ff) return static_cast<int>('0' + (cp - 0x1d7ce) % 10);
  if (cp == 0xad || cp == 0x34f || cp == 0x180e || (cp >= 0x200b && cp <= 0x200f) ||
      (cp >= 0x2060 && cp <= 0x2064) || cp == 0xfeff) {
    return -1;  // Soft hyphen, zero-width and other invisible format characters.
  }
  return 0;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads a \uXXXX escape at s[i] (s[i] == '\\', s[i+1] == 'u'); -1 if the digits are not hex.
int64_t UnicodeEscape(std::string_view s, size_t i) {
  if (i + 6 > s.size()) return -1;
  int64_t cp = 0;
  for (size_t k = i + 2; k < i + 6; ++k) {
    const int d = HexDigit(s[k]);
    if (d < 0) return -1;
    cp = cp * 16 + d;
  }
  return cp;
}

// Decodes `s` as any reader might and calls on(folded, start) for each character that shows,
// with `start` the byte offset where its spelling begins. `on` returns false to stop.
// Decoding: JSON escapes (\uXXXX with surrogate pairs; `\` + any other ASCII character as that
// character, which is what lenient parsers do; `\` + line break as nothing), UTF-8 read
// leniently (overlong forms give their ASCII character), then Fold.
template <typename F>
void Decode(std::string_view s, F&& on) {
  size_t i = 0;
  while (i < s.size()) {
    const size_t start = i;
    const auto b = static_cast<unsigned char>(s[i]);
    uint32_t cp = 0;
    if (b == '\\' && i + 1 < s.size()) {
      const auto next = static_cast<unsigned char>(s[i + 1]);
      if (next == 'u') {
        int64_t u = UnicodeEscape(s, i);
        if (u < 0) {
          cp = 'u';
          i += 2;
        } else {
          i += 6;
          if (u >= 0xd800 && u <= 0xdbff && i + 1 < s.size() && s[i] == '\\' && s[i + 1] == 'u') {
            const int64_t low = UnicodeEscape(s, i);
            if (low >= 0xdc00 && low <= 0xdfff) {
              u = 0x10000 + ((u - 0xd800) << 10) + (low - 0xdc00);
              i += 6;
            }
          }
          cp = static_cast<uint32_t>(u);
        }
      } else if (next == '\n' || next == '\r') {
        i += 2;  // A line continuation: nothing.
        if (next == '\r' && i < s.size() && s[i] == '\n') ++i;
        continue;
      } else if (next < 0x80) {
        cp = next;
        i += 2;
      } else {
        cp = '\\';
        i += 1;
      }
    } else if (b < 0x80) {
      cp = b;
      i += 1;
    } else {
      // Lenient UTF-8: the payload bits of a lead byte and its continuation bytes, overlong
      // or not. Anything else is one unknown character.
      size_t len = b >= 0xf0 && b <= 0xf7 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
      if (len > 1 && i + len <= s.size()) {
        cp = b & (0x7f >> len);
        for (size_t k = 1; k < len; ++k) {
          const auto cont = static_cast<unsigned char>(s[i + k]);
          if ((cont & 0xc0) != 0x80) {
            len = 1;
            break;
          }
          cp = (cp << 6) | (cont & 0x3f);
        }
      } else {
        len = 1;
      }
      if (len == 1) cp = 0xfffd;
      i += len;
    }
    const int folded = Fold(cp);
    if (folded < 0) continue;
    if (!on(static_cast<char>(folded), start)) return;
  }
}

// The byte offset in `s` where the first spelling of a login secret's name begins, or npos.
size_t FirstSecretName(std::string_view s) {
  constexpr size_t kWindow = 8;  // The longest name.
  std::array<char, kWindow> chars{};
  std::array<size_t, kWindow> starts{};
  size_t n = 0;  // Characters seen.
  size_t found = std::string_view::npos;
  Decode(s, [&](char c, size_t start) {
    chars[n % kWindow] = c;
    starts[n % kWindow] = start;
    ++n;
    for (std::string_view name : kLoginSecrets) {
      if (n < name.size()) continue;
      bool match = true;
      for (size_t k = 0; k < name.size() && match; ++k) {
        match = chars[(n - name.size() + k) % kWindow] == name[k];
      }
      if (match) {
        found = starts[(n - name.size()) % kWindow];
        return false;
      }
    }
    return true;
  });
  return found;
}

// True if `s`, without what may stand between a key and its value at its end (spaces,
// quotes, colons, equals signs), ends with a spelling of a login secret's name.
bool EndsWithSecretName(std::string_view s) {
  while (!s.empty() && (IsJsonSpace(s.back()) || s.back() == '"' || s.back() == ':' ||
                        s.back() == '=' || s.back() == '\'')) {
    s.remove_suffix(1);
  }
  std::string tail;
  Decode(s, [&](char c, size_t) {
    tail.push_back(c);
    if (tail.size() > 64) tail.erase(0, 32);
    return true;
  });
  for (std::string_view name : kLoginSecrets) {
    if (tail.size() >= name.size() &&
        tail.compare(tail.size() - name.size(), name.size(), name) == 0) {
      return true;
    }
  }
  return false;
}

bool IsSecretKey(std::string_view key) { return SecretKeyName(key); }

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

simdjson::error_code CopyArray(od::array array, std::string& out, int depth) {
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
      return CopyArray(array, out, depth);
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

// Copies the whole document (an object or an array) without secrets; false if it does not
// parse completely.
bool CopyDocument(od::parser& parser, PaddedBuffer& buffer, std::string_view json,
                  std::string& out) {
  out.clear();
  od::document doc;
  if (parser.iterate(buffer.Set(json)).get(doc)) return false;
  od::json_type type;
  if (doc.type().get(type)) return false;
  if (type == od::json_type::object) {
    od::object object;
    if (doc.get_object().get(object) || CopyObject(object, out, 0)) return false;
  } else if (type == od::json_type::array) {
    od::array array;
    if (doc.get_array().get(array) || CopyArray(array, out, 0)) return false;
  } else {
    return false;  // A bare scalar has no keys: it is text, see SecretSafeText.
  }
  return AtEnd(doc);
}

std::string Excerpt(std::string_view s, size_t max = 200) {
  if (s.size() <= max) return std::string(s);
  return std::string(s.substr(0, max)) + "...";
}

// The API's error object: a top-level object with an "error" key and neither "results" nor
// "login" (so a user that happens to have an "error" field stays a user). Sets `message`.
bool ApiErrorObject(od::parser& parser, PaddedBuffer& buffer, std::string_view json,
                    std::string& message) {
  od::document doc;
  if (parser.iterate(buffer.Set(json)).get(doc)) return false;
  od::object object;
  if (doc.get_object().get(object)) return false;
  bool has_error = false;
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return false;
    if (key == "results" || key == "login") return false;
    if (key == "error") {
      has_error = true;
      std::string_view text;
      if (field.value().get_string().get(text)) {
        message = "(non-string error field)";
      } else {
        message = std::string(text);
      }
    }
  }
  return has_error;
}

}  // namespace

bool SecretKeyName(std::string_view key) {
  if (key.size() < 3) return false;  // Every name needs three characters, each a byte or more.
  bool plain = true;
  for (char c : key) {
    if (c < 0x20 || c > 0x7e || c == '\\') {  // char may be signed: bytes >= 0x80 are < 0.
      plain = false;
      break;
    }
  }
  if (plain) {  // The hot path: a printable ASCII key without backslashes.
    if (key.size() > 8) return false;
    for (std::string_view name : kLoginSecrets) {
      if (name.size() != key.size()) continue;
      bool match = true;
      for (size_t k = 0; k < name.size() && match; ++k) {
        char c = key[k];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        match = c == name[k];
      }
      if (match) return true;
    }
    return false;
  }
  std::string folded;
  Decode(key, [&](char c, size_t) {
    folded.push_back(c);
    return folded.size() <= 8;
  });
  return std::find(std::begin(kLoginSecrets), std::end(kLoginSecrets), folded) !=
         std::end(kLoginSecrets);
}

std::string SecretSafeText(std::string_view text) {
  const size_t cut = FirstSecretName(text);
  if (cut == std::string_view::npos) return std::string(text);
  std::string out(text.substr(0, cut));
  // The marker names no secret, so the result is safe and the function idempotent.
  fmt::format_to(std::back_inserter(out),
                 "[spate: {} bytes cut here, from a login secret's name on]", text.size() - cut);
  return out;
}

std::string DeadLetterBytes(std::string_view raw) {
  thread_local od::parser parser;
  thread_local PaddedBuffer buffer;
  std::string out;
  // A parser rejects more than a scanner: what it accepts, it split into keys and values.
  if (CopyDocument(parser, buffer, raw, out)) return out;
  return SecretSafeText(raw);
}

std::string ScrubSecrets(std::string_view raw) { return DeadLetterBytes(raw); }

DeadLetter MakeDeadLetter(std::string_view reason, std::string origin, uint64_t position,
                          uint32_t item, std::string_view raw) {
  DeadLetter dead;
  dead.reason = SecretSafeText(reason);
  dead.origin = std::move(origin);
  dead.position = position;
  dead.item = item;
  dead.raw = DeadLetterBytes(raw);
  return dead;
}

// ---------------------------------------------------------------------------------------
// RecordSplitter

namespace {

bool IsDelimiter(char c) {
  return IsJsonSpace(c) || c == ',' || c == ':' || c == '[' || c == ']' || c == '{' || c == '}' ||
         c == '"';
}

constexpr std::string_view kBom = "\xEF\xBB\xBF";

}  // namespace

RecordSplitter::RecordSplitter(size_t max_record_bytes)
    : max_record_bytes_(std::max<size_t>(max_record_bytes, 1)) {}

bool RecordSplitter::AtUnitLevel() const {
  switch (envelope_) {
    case Envelope::kNone:
      return depth_ == 0;
    case Envelope::kArray:
      return depth_ == 1;
    case Envelope::kObject:
      return in_results_ && depth_ == 2;
  }
  return false;
}

void RecordSplitter::BeginUnit() {
  unit_open_ = true;
  unit_broken_ = false;
  unit_held_ = false;
  unit_depth_ = depth_;
  unit_.kind = SplitUnit::Kind::kValue;
  unit_.bytes.clear();
  unit_.size = 0;
  unit_.line = line_;
  unit_.top_level = depth_ == 0;
  unit_.problem.clear();
  unit_secret_ = false;
  if (after_fault_ && EndsWithSecretName(RecentBytes())) {
    // After broken structure, what starts here may be the value of a secret whose name ends
    // the bytes before it ("password":<line break>{...}, ["salt": "..."]): nothing of it is
    // kept, and it cannot become a record.
    unit_secret_ = true;
    unit_broken_ = true;
    unit_.problem = "it may be the value of a login secret named just before it";
  }
  if (line_ != item_line_) {
    item_line_ = line_;
    next_item_ = 0;
  }
  unit_.item = next_item_++;
  SetAppendLimit();
}

void RecordSplitter::SetAppendLimit() {
  if (unit_.kind == SplitUnit::Kind::kTooLarge || unit_secret_) {
    append_limit_ = 0;
  } else {
    append_limit_ =
        unit_broken_ ? std::min(max_record_bytes_, kTooLargeKeepBytes) : max_record_bytes_;
  }
}

void RecordSplitter::AppendSlow() {
  // Append found the unit at its limit (or keeping nothing).
  ++unit_.size;
  if (unit_.kind == SplitUnit::Kind::kTooLarge || unit_secret_) return;
  if (unit_broken_) return;  // A broken unit keeps a prefix; it is reported as broken.
  // Over the limit: keep a prefix to show, give the rest of the memory back, and only follow
  // the structure from here on to find where the unit ends.
  unit_.kind = SplitUnit::Kind::kTooLarge;
  unit_.bytes.resize(std::min(unit_.bytes.size(), kTooLargeKeepBytes));
  unit_.bytes.shrink_to_fit();
  SetAppendLimit();
}

void RecordSplitter::Emit(std::vector<SplitUnit>& out) {
  if (!unit_open_) return;
  if (unit_broken_) {
    unit_.kind = SplitUnit::Kind::kBroken;
    unit_.bytes.resize(TrimJsonSpace(unit_.bytes).size());
  } else {
    after_fault_ = false;  // A clean record: what follows starts from a known place.
  }
  out.push_back(std::move(unit_));
  unit_ = SplitUnit{};
  unit_open_ = false;
  unit_broken_ = false;
  unit_held_ = false;
}

void RecordSplitter::SetMode(uint64_t start_line) {
  if (mode_ == Mode::kUnknown) mode_ = start_line == line_ ? Mode::kLines : Mode::kDocument;
}

void RecordSplitter::Fault(const char* why, bool at_line_end, int c) {
  faulted_ = true;
  after_fault_ = true;
  // Where to look for the next record: in a document, at the next element of the envelope
  // if the fault is inside one; otherwise (and always in JSON Lines) at the top level.
  resync_elements_ = mode_ != Mode::kLines && envelope_ != Envelope::kNone &&
                     (envelope_ == Envelope::kArray || in_results_) && depth_ > 0;
  if (!unit_open_) {
    BeginUnit();  // Broken structure outside any record: reported once, where it is.
    unit_.top_level = false;
  }
  if (!unit_broken_ || unit_.problem.empty()) unit_.problem = why;
  unit_broken_ = true;
  if (unit_.kind == SplitUnit::Kind::kTooLarge) unit_.kind = SplitUnit::Kind::kBroken;
  SetAppendLimit();
  unit_held_ = false;
  in_string_ = escape_ = in_token_ = false;
  after_top_ = false;
  if (!at_line_end && at_line_start_) {
    // The fault is the first thing on its line: the line before was cut short, and this
    // line may well start the next record. Look at it again as a place to start over.
    at_line_end = true;
    redo_ = true;
  }
  skipping_ = !at_line_end;
  resyncing_ = at_line_end;
  // The byte at fault belongs to the broken unit: a unit's bytes are one unbroken stretch of
  // the input, so no letter of a secret's name can go missing between them (ingest.h).
  if (skipping_ && c >= 0) Append(static_cast<char>(c));
}

bool RecordSplitter::CanResyncAt(char c) const {
  if (resync_elements_) return c == '{' || c == '[' || c == ']';
  if (mode_ == Mode::kLines) return c != ',' && c != ':' && c != ']' && c != '}';
  return c == '{' || c == '[';
}

void RecordSplitter::Resync(char c) {
  in_string_ = escape_ = in_token_ = false;
  after_top_ = false;
  key_.clear();
  key_is_results_ = false;
  if (resync_elements_) {
    stack_ = envelope_ == Envelope::kArray ? "[" : "{[";
    depth_ = stack_.size();
    in_results_ = envelope_ == Envelope::kObject;
    expect_ = c == ']' ? Expect::kCommaOrClose : Expect::kValue;
  } else {
    stack_.clear();
    depth_ = 0;
    envelope_ = Envelope::kNone;
    in_results_ = false;
    expect_ = Expect::kValue;
  }
}

void RecordSplitter::StartValue(char c) {
  if (depth_ == 0) {
    ++top_values_;
    top_start_line_ = line_;
    key_.clear();
    key_is_results_ = false;
    if (c == '[') {  // A bare array of users: its elements are the units.
      envelope_ = Envelope::kArray;
      stack_.push_back('[');
      ++depth_;
      expect_ = Expect::kValueOrClose;
      return;
    }
    BeginUnit();  // A user, or a response: known once "results" turns up.
  } else if (c == '[' && depth_ == 1 && envelope_ == Envelope::kNone && key_is_results_ &&
             stack_.size() == 1 && stack_[0] == '{') {
    // The top-level object is a response: its results are the units, the rest is envelope.
    if (unit_open_) {
      if (item_line_ == unit_.line && next_item_ > 0) next_item_ = unit_.item;
      unit_open_ = false;
      unit_ = SplitUnit{};
    }
    envelope_ = Envelope::kObject;
    in_results_ = true;
    stack_.push_back('[');
    ++depth_;
    expect_ = Expect::kValueOrClose;
    return;
  } else if (!unit_open_ && AtUnitLevel()) {
    BeginUnit();
  }
  Append(c);
  switch (c) {
    case '{':
    case '[':
      if (depth_ < kMaxTrackedDepth) stack_.push_back(c);
      ++depth_;
      expect_ = c == '{' ? Expect::kKeyOrClose : Expect::kValueOrClose;
      break;
    case '"':
      in_string_ = true;
      string_is_key_ = false;
      break;
    default:
      in_token_ = true;
  }
}

void RecordSplitter::ValueEnded(std::vector<SplitUnit>& out) {
  expect_ = depth_ == 0 ? Expect::kTopAfter : Expect::kCommaOrClose;
  if (!unit_open_ || depth_ != unit_depth_) return;
  if (depth_ == 0) {
    // A top-level value: complete, but only spaces may follow it on its line.
    SetMode(unit_.line);
    unit_held_ = true;
    after_top_ = true;
    held_space_.clear();
    return;
  }
  Emit(out);
}

void RecordSplitter::Close(char c, std::vector<SplitUnit>& out) {
  const char open = c == '}' ? '{' : '[';
  if (depth_ == 0) return Fault("a closing bracket without an opening one", false, c);
  if (!Loose()) {
    const bool allowed = expect_ == Expect::kCommaOrClose ||
                         (c == '}' && expect_ == Expect::kKeyOrClose) ||
                         (c == ']' && expect_ == Expect::kValueOrClose);
    if (!allowed) return Fault("a value or key is missing before a closing bracket", false, c);
    if (stack_.back() != open) return Fault("brackets do not match", false, c);
  }
  Append(c);
  if (depth_ <= stack_.size()) stack_.pop_back();
  --depth_;
  if (envelope_ == Envelope::kObject && in_results_ && depth_ == 1) {
    in_results_ = false;  // The end of the results array.
    expect_ = Expect::kCommaOrClose;
    return;
  }
  if (depth_ == 0 && envelope_ != Envelope::kNone) {  // The end of a response document.
    envelope_ = Envelope::kNone;
    ++envelopes_closed_;
    SetMode(top_start_line_);
    expect_ = Expect::kTopAfter;
    after_top_ = true;
    held_space_.clear();
    return;
  }
  ValueEnded(out);
}

void RecordSplitter::Step(char c, std::vector<SplitUnit>& out) {
  if (after_top_) {  // A top-level value ended on this line.
    if (c == '\n') {
      after_top_ = false;
      held_space_.clear();
      if (unit_held_) Emit(out);
      NewLine();
      return;
    }
    if (IsJsonSpace(c)) {
      if (held_space_.size() < 64) held_space_.push_back(c);
      return;
    }
    after_top_ = false;
    if (unit_held_) {
      for (char space : held_space_) Append(space);  // "not json" stays "not json".
    }
    held_space_.clear();
    Fault(unit_held_ ? "trailing content after the value on its line"
                     : "trailing content after the document on its line",
          false, c);
    return;
  }
  if (skipping_) {
    Append(c);
    if (c == '\n') {
      NewLine();
      skipping_ = false;
      resyncing_ = true;
    }
    return;
  }
  if (resyncing_) {
    if (IsJsonSpace(c)) {
      Append(c);  // Kept for whoever reads the dead letter; trimmed at its end.
      if (c == '\n') NewLine();
      return;
    }
    if (!CanResyncAt(c)) {
      Append(c);
      skipping_ = true;
      return;
    }
    resyncing_ = false;
    Emit(out);
    Resync(c);
  }
  if (in_string_) {
    Append(c);
    if (escape_) {
      // Any byte after a backslash stays in the string, a line break too: "pass\<newline>word"
      // must stay in one unit so the secret cut sees the whole name.
      escape_ = false;
      if (c == '\n') NewLine();
    } else if (c == '\\') {
      escape_ = true;
      return;
    } else if (c == '"') {
      in_string_ = false;
      if (string_is_key_) {
        expect_ = Expect::kColon;
        key_is_results_ = key_ == "results";
      } else {
        ValueEnded(out);
      }
      return;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      const bool newline = c == '\n';
      if (newline) NewLine();
      return Fault(newline ? "a line break inside a string" : "a control character inside a string",
                   newline, -1);
    }
    if (string_is_key_ && depth_ == 1 && key_.size() <= 8) key_.push_back(c);
    return;
  }
  if (in_token_) {
    if (!IsDelimiter(c)) {
      Append(c);
      return;
    }
    in_token_ = false;
    ValueEnded(out);
    return Step(c, out);  // The delimiter itself, in the new state (at most one level deep).
  }
  at_line_start_ = line_blank_;
  if (!IsJsonSpace(c)) line_blank_ = false;
  StepStructure(c, out);
  at_line_start_ = false;
  if (redo_) {
    redo_ = false;
    Step(c, out);  // Now resyncing: starts over at c or skips its line.
  }
}

void RecordSplitter::StepStructure(char c, std::vector<SplitUnit>& out) {
  switch (c) {
    case '\n':
      if (mode_ == Mode::kLines && depth_ > 0) {
        NewLine();
        return Fault("the line ends inside a value", true, -1);
      }
      Append(c);
      NewLine();
      return;
    case ' ':
    case '\t':
    case '\r':
      Append(c);
      return;
    case '{':
    case '[':
      if (!Loose() && expect_ != Expect::kValue && expect_ != Expect::kValueOrClose &&
          expect_ != Expect::kTopAfter) {
        return Fault("a value where a key, comma or colon belongs", false, c);
      }
      if (!Loose() && expect_ == Expect::kValue && depth_ > 0 && stack_.back() == '{' &&
          at_line_start_ && colon_line_ != line_ && mode_ != Mode::kDocument) {
        // Pretty-printers put a member's value on its key's line; an object or array that
        // starts a line after a colon is more likely the next JSON Lines record after a line
        // that was cut short.
        return Fault("a line ends after a key's colon", false, c);
      }
      return StartValue(c);
    case '}':
    case ']':
      return Close(c, out);
    case ',':
      if (Loose()) return Append(c);
      if (expect_ != Expect::kCommaOrClose || depth_ == 0)
        return Fault("a misplaced comma", false, c);
      Append(c);
      expect_ = stack_.back() == '{' ? Expect::kKey : Expect::kValue;
      if (depth_ == 1) key_.clear();
      return;
    case ':':
      if (Loose()) return Append(c);
      if (expect_ != Expect::kColon) return Fault("a misplaced colon", false, c);
      Append(c);
      expect_ = Expect::kValue;
      colon_line_ = line_;
      return;
    case '"':
      if (!Loose() && (expect_ == Expect::kKey || expect_ == Expect::kKeyOrClose)) {
        Append(c);
        in_string_ = true;
        string_is_key_ = true;
        if (depth_ == 1) key_.clear();
        return;
      }
      if (!Loose() && expect_ != Expect::kValue && expect_ != Expect::kValueOrClose &&
          expect_ != Expect::kTopAfter) {
        return Fault("a string where a comma, colon or closing bracket belongs", false, c);
      }
      return StartValue(c);
    default:
      if (!Loose() && expect_ != Expect::kValue && expect_ != Expect::kValueOrClose &&
          expect_ != Expect::kTopAfter) {
        return Fault("a value where a comma, colon or closing bracket belongs", false, c);
      }
      return StartValue(c);
  }
}

void RecordSplitter::Feed(std::string_view bytes, std::vector<SplitUnit>& out) {
  size_t i = 0;
  // A UTF-8 byte-order mark at the very start, possibly split across reads.
  while (!bom_done_ && i < bytes.size()) {
    if (bytes[i] == kBom[bom_seen_]) {
      ++i;
      if (++bom_seen_ == kBom.size()) bom_done_ = true;
      continue;
    }
    bom_done_ = true;
    chunk_ = {};
    for (uint8_t k = 0; k < bom_seen_; ++k) Step(kBom[k], out);  // Not a BOM after all.
  }
  chunk_ = bytes;
  while (i < bytes.size()) {
    if (line_blank_ && bytes[i] == '{' && mode_ == Mode::kLines) {
      const size_t taken = FastLine(bytes, i, out);
      if (taken > 0) {
        i += taken;
        continue;
      }
    }
    // Fast paths for the long stretches (a token, a string's body, a line being skipped):
    // the same as Step byte by byte, a run at a time.
    size_t run = 0;
    if (in_token_) {
      while (i + run < bytes.size() && !IsDelimiter(bytes[i + run])) ++run;
    } else if (in_string_ && !escape_ && !(string_is_key_ && depth_ == 1)) {
      while (i + run < bytes.size()) {
        const auto b = static_cast<unsigned char>(bytes[i + run]);
        if (b == '"' || b == '\\' || b < 0x20) break;
        ++run;
      }
    } else if (skipping_) {
      while (i + run < bytes.size() && bytes[i + run] != '\n') ++run;
    }
    if (run > 0) {
      AppendRun(bytes.substr(i, run));
      i += run;
      continue;
    }
    chunk_pos_ = i;
    Step(bytes[i], out);
    ++i;
  }
  // Keep the end of what was read for RecentBytes.
  if (bytes.size() >= kRecentBytes) {
    recent_.assign(bytes.substr(bytes.size() - kRecentBytes));
  } else {
    recent_.append(bytes);
    if (recent_.size() > kRecentBytes) recent_.erase(0, recent_.size() - kRecentBytes);
  }
  chunk_ = {};
  chunk_pos_ = 0;
}

size_t RecordSplitter::FastLine(std::string_view bytes, size_t i, std::vector<SplitUnit>& out) {
  // JSON Lines' common case, a line that is one valid object, taken whole: what Step would
  // find byte by byte (one top-level unit, the line without its trailing spaces), found at
  // memchr and simdjson speed. Anything else, or any state but "between lines", is left to
  // Step: a line the parser refuses, one that may be a response ("results"), one over the
  // limit or not yet complete in this read.
  if (depth_ != 0 || unit_open_ || in_string_ || in_token_ || skipping_ || resyncing_ ||
      after_top_ || after_fault_ || envelope_ != Envelope::kNone ||
      (expect_ != Expect::kValue && expect_ != Expect::kTopAfter)) {
    return 0;
  }
  const void* newline = std::memchr(bytes.data() + i, '\n', bytes.size() - i);
  if (newline == nullptr) return 0;
  const size_t end = static_cast<size_t>(static_cast<const char*>(newline) - bytes.data());
  const std::string_view line = TrimJsonSpace(bytes.substr(i, end - i));
  constexpr std::string_view kResults = "\"results\"";
  if (line.size() > max_record_bytes_ || line.back() != '}' ||
      memmem(line.data(), line.size(), kResults.data(), kResults.size()) != nullptr) {
    return 0;
  }
  simdjson::dom::element root;
  if (validator_.parse(line.data(), line.size(), true).get(root) || !root.is_object()) return 0;
  chunk_pos_ = i;
  ++top_values_;
  top_start_line_ = line_;
  key_.clear();
  key_is_results_ = false;
  BeginUnit();
  unit_.bytes.assign(line);
  unit_.size = line.size();
  expect_ = Expect::kTopAfter;
  Emit(out);
  NewLine();
  return end + 1 - i;
}

std::string RecordSplitter::RecentBytes() const {
  std::string window = recent_;
  window.append(chunk_.substr(0, std::min(chunk_pos_, chunk_.size())));
  if (window.size() > kRecentBytes) window.erase(0, window.size() - kRecentBytes);
  return window;
}

void RecordSplitter::AppendRun(std::string_view stretch) {
  if (!unit_open_) return;
  if (unit_.kind == SplitUnit::Kind::kTooLarge || unit_secret_) {
    unit_.size += stretch.size();
    return;
  }
  if (unit_.bytes.size() + stretch.size() <= append_limit_) {
    unit_.size += stretch.size();
    unit_.bytes.append(stretch);
    return;
  }
  for (char c : stretch) Append(c);  // Crosses the limit: byte by byte, once.
}

void RecordSplitter::Finish(std::vector<SplitUnit>& out) {
  if (finished_) return;
  if (!bom_done_) {
    bom_done_ = true;
    for (uint8_t k = 0; k < bom_seen_; ++k) Step(kBom[k], out);
  }
  if (in_token_) {
    in_token_ = false;
    ValueEnded(out);
  }
  if (after_top_) {
    after_top_ = false;
    if (unit_held_) Emit(out);
  }
  if (skipping_ || resyncing_) {
    skipping_ = resyncing_ = false;
    Emit(out);
  } else if (in_string_ || depth_ > 0) {
    in_string_ = false;
    if (!unit_open_) {
      faulted_ = true;
      BeginUnit();
      unit_.top_level = false;
      unit_.problem = "the input ends inside the document, after its last complete record";
    } else {
      unit_.problem = "the input ends inside a record";
    }
    faulted_ = true;
    unit_broken_ = true;
    Emit(out);
  }
  finished_ = true;
}

bool RecordSplitter::complete() const {
  return finished_ && !faulted_ && top_values_ == 1 && envelopes_closed_ == 1 && depth_ == 0;
}

// ---------------------------------------------------------------------------------------
// Ingestor

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

void Ingestor::AddUser(std::string_view user_json, uint64_t position, Batch& out, uint32_t item) {
  RawRecord record;
  record.position = position;
  record.item = item;
  Status status = StripSecrets(user_json, record.json);
  if (status.ok()) {
    out.records.push_back(std::move(record));
    return;
  }
  out.dead.push_back(MakeDeadLetter(status.message(), out.origin, position, item, user_json));
}

bool Ingestor::AddUnit(SplitUnit& unit, uint64_t position, uint32_t item, Batch& out,
                       std::string* api_error, bool dead_api_error) {
  switch (unit.kind) {
    case SplitUnit::Kind::kBroken:
      out.dead.push_back(MakeDeadLetter(fmt::format("malformed JSON: {}", unit.problem), out.origin,
                                        position, item, unit.bytes));
      return true;
    case SplitUnit::Kind::kTooLarge:
      out.dead.push_back(MakeDeadLetter(
          fmt::format("record too large: {} bytes (limit {}, --max-record-bytes); only its "
                      "first bytes are kept",
                      unit.size, max_record_bytes_),
          out.origin, position, item, unit.bytes));
      return true;
    case SplitUnit::Kind::kValue:
      break;
  }
  std::string message;
  if (unit.top_level && unit.bytes.find("\"error\"") != std::string::npos &&
      ApiErrorObject(parser_, buffer_, unit.bytes, message)) {
    std::string reason =
        SecretSafeText(fmt::format("the API answered with an error: {}", Excerpt(message)));
    if (api_error != nullptr) *api_error = reason;
    if (!dead_api_error) return false;
    // The message is text, not structure: its bytes get the text rule, as the reason does.
    out.dead.push_back(
        MakeDeadLetter(reason, out.origin, position, item, SecretSafeText(unit.bytes)));
    return true;
  }
  AddUser(unit.bytes, position, out, item);
  return true;
}

Ingestor::PageSplit Ingestor::SplitPage(std::string_view document, uint64_t first_position,
                                        Batch& out) {
  PageSplit page;
  RecordSplitter splitter(max_record_bytes_);
  std::vector<SplitUnit> units;
  splitter.Feed(document, units);
  splitter.Finish(units);
  for (SplitUnit& unit : units) {
    if (AddUnit(unit, first_position + page.users, 0, out, &page.api_error, false)) ++page.users;
  }
  page.complete = splitter.complete();
  return page;
}

Result<uint64_t> Ingestor::SplitResponse(std::string_view document, uint64_t first_position,
                                         Batch& out) {
  const size_t records_before = out.records.size();
  const size_t dead_before = out.dead.size();
  PageSplit page = SplitPage(document, first_position, out);
  if (!page.api_error.empty() || !page.complete) {
    out.records.resize(records_before);
    out.dead.resize(dead_before);
    if (!page.api_error.empty()) return Status::Fatal(page.api_error);
    return Status::InvalidInput("not a complete API response document");
  }
  return page.users;
}

}  // namespace spate
