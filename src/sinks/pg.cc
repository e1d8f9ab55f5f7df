#include "sinks/pg.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <set>

#include <fmt/format.h>

namespace spate {
namespace {

// The connection string's own values (PQconninfoParse), keyword -> value, secrets included.
std::map<std::string, std::string> ParseDsn(const std::string& dsn) {
  std::map<std::string, std::string> values;
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
  if (error != nullptr) PQfreemem(error);
  if (options == nullptr) return values;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val != nullptr && *o->val != '\0') values[o->keyword] = o->val;
  }
  PQconninfoFree(options);
  return values;
}

// libpq's messages end in a newline and may span lines ("connection to server at ... failed:
// FATAL: ..."); one line reads better in a log.
std::string OneLine(std::string text) {
  std::string out;
  for (char c : text) {
    if (c == '\n' || c == '\t') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

bool Contains(std::string_view text, std::string_view what) {
  return text.find(what) != std::string_view::npos;
}

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// The keywords libpq knows. Only these are ever named in a message: anything else in a
// connection string could be part of a password typed in the wrong place.
bool KnownKeyword(std::string_view keyword) {
  static const std::set<std::string, std::less<>> known = [] {
    std::set<std::string, std::less<>> k;
    if (PQconninfoOption* defaults = PQconndefaults()) {
      for (PQconninfoOption* o = defaults; o->keyword != nullptr; ++o) k.insert(o->keyword);
      PQconninfoFree(defaults);
    }
    return k;
  }();
  return known.count(keyword) > 0;
}

std::string Ordinal(size_t n) {
  const char* suffix = (n % 100 >= 11 && n % 100 <= 13) ? "th"
                       : n % 10 == 1                    ? "st"
                       : n % 10 == 2                    ? "nd"
                       : n % 10 == 3                    ? "rd"
                                                        : "th";
  return fmt::format("{}{}", n, suffix);
}

constexpr std::string_view kKeywordValueHelp =
    "write KEY=VALUE settings separated by spaces, e.g. host=db1 dbname=spate user=spate "
    "password='two words' (quote a value that has spaces or quotes; \\' and \\\\ inside quotes)";
constexpr std::string_view kUriHelp =
    "write postgresql://USER:PASSWORD@HOST:PORT/DBNAME?KEY=VALUE, with %XX for a special "
    "character in a part (@ as %40, : as %3A, / as %2F, % as %25)";

// The KEY=VALUE form, parsed as libpq parses it (conninfo_parse), but with errors that name
// only known keywords and positions.
Status CheckKeywordValue(std::string_view s) {
  size_t i = 0;
  size_t n = 0;
  std::string previous;  // The last keyword, known by construction.
  auto where = [&] {
    return previous.empty()
               ? fmt::format("the {} setting", Ordinal(n))
               : fmt::format("the {} setting (the one after {}=...)", Ordinal(n), previous);
  };
  while (true) {
    while (i < s.size() && IsSpace(s[i])) ++i;
    if (i == s.size()) return Status::Ok();
    ++n;
    const size_t start = i;
    while (i < s.size() && s[i] != '=' && !IsSpace(s[i])) ++i;
    const std::string_view keyword = s.substr(start, i - start);
    while (i < s.size() && IsSpace(s[i])) ++i;
    if (i == s.size() || s[i] != '=') {
      if (n == 1 && s.find('=') == std::string_view::npos) {
        return Status::Fatal(fmt::format(
            "the connection string is neither KEY=VALUE settings nor a postgresql:// URI (for "
            "a database name write dbname=NAME): {}",
            kKeywordValueHelp));
      }
      return Status::Fatal(fmt::format(
          "{} has no '=' (if it is part of the value before it, that value needs quotes): {}",
          where(), kKeywordValueHelp));
    }
    ++i;  // '='
    if (keyword.empty()) {
      return Status::Fatal(
          fmt::format("{} has '=' but no keyword: {}", where(), kKeywordValueHelp));
    }
    if (!KnownKeyword(keyword)) {
      return Status::Fatal(fmt::format(
          "{} has a keyword libpq does not know (not shown: it may be part of a secret); libpq's "
          "keywords include host, port, dbname, user, password, sslmode and connect_timeout",
          where()));
    }
    while (i < s.size() && IsSpace(s[i])) ++i;
    if (i < s.size() && s[i] == '\'') {
      bool closed = false;
      for (++i; i < s.size(); ++i) {
        if (s[i] == '\\') {
          ++i;  // The escaped character, whatever it is.
        } else if (s[i] == '\'') {
          closed = true;
          ++i;
          break;
        }
      }
      if (!closed) {
        return Status::Fatal(
            fmt::format("the value of {} starts with a quote (') but has no closing quote: {}",
                        keyword, kKeywordValueHelp));
      }
    } else {
      while (i < s.size() && !IsSpace(s[i])) i += s[i] == '\\' ? 2 : 1;
      i = std::min(i, s.size());
    }
    previous = std::string(keyword);
  }
}

// Whether a URI part's %-escapes are all %XX, and none is %00 (libpq forbids it).
bool ValidPercent(std::string_view part) {
  for (size_t i = 0; i < part.size(); ++i) {
    if (part[i] != '%') continue;
    if (i + 2 >= part.size()) return false;
    if (!std::isxdigit(static_cast<unsigned char>(part[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(part[i + 2]))) {
      return false;
    }
    if (part[i + 1] == '0' && part[i + 2] == '0') return false;
    i += 2;
  }
  return true;
}

Status BadPercent(std::string_view what) {
  return Status::Fatal(fmt::format(
      "the URI's {} has a '%' that is not a %XX escape (or is %00): {}", what, kUriHelp));
}

bool AllDigits(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

// The URI form, split as libpq splits it (conninfo_uri_parse_options).
Status CheckUri(std::string_view s) {
  std::string_view rest = s.substr(s.find("://") + 3);
  // libpq: the user information ends at the first '@' before any '/'.
  const size_t at_or_slash = rest.find_first_of("@/");
  if (at_or_slash != std::string_view::npos && rest[at_or_slash] == '@') {
    const std::string_view userinfo = rest.substr(0, at_or_slash);
    const size_t colon = userinfo.find(':');
    if (!ValidPercent(userinfo.substr(0, colon))) return BadPercent("user name");
    if (colon != std::string_view::npos && !ValidPercent(userinfo.substr(colon + 1))) {
      return BadPercent("password");
    }
    rest = rest.substr(at_or_slash + 1);
  }
  const size_t hosts_end = rest.find_first_of("/?");
  const std::string_view hosts = rest.substr(0, hosts_end);
  rest = hosts_end == std::string_view::npos ? std::string_view() : rest.substr(hosts_end);
  if (Contains(hosts, "@")) {
    // libpq would take what follows the first '@' as the host, and the name lookup's error
    // would then print it: part of the password.
    return Status::Fatal(
        fmt::format("the URI's host part contains '@': an '@' in the password or user name must be "
                    "written %40: {}",
                    kUriHelp));
  }
  size_t begin = 0;
  while (begin <= hosts.size()) {
    const size_t comma = hosts.find(',', begin);
    const std::string_view host = hosts.substr(
        begin, comma == std::string_view::npos ? std::string_view::npos : comma - begin);
    std::string_view port;
    if (host.starts_with('[')) {
      const size_t close = host.find(']');
      if (close == std::string_view::npos) {
        return Status::Fatal(
            fmt::format("an IPv6 address in the URI's host part has no closing ']': {}", kUriHelp));
      }
      const std::string_view after = host.substr(close + 1);
      if (!after.empty() && after.front() != ':') {
        return Status::Fatal(fmt::format(
            "an IPv6 address in the URI's host part is followed by something other than :PORT: "
            "{}",
            kUriHelp));
      }
      if (!after.empty()) port = after.substr(1);
    } else {
      const size_t colon = host.find(':');
      if (!ValidPercent(host.substr(0, colon))) return BadPercent("host");
      if (colon != std::string_view::npos) port = host.substr(colon + 1);
    }
    if (!AllDigits(port)) {
      return Status::Fatal(
          fmt::format("a port in the URI's host part is not a number: {}", kUriHelp));
    }
    if (comma == std::string_view::npos) break;
    begin = comma + 1;
  }
  if (rest.starts_with('/')) {
    const size_t query = rest.find('?');
    if (Contains(rest.substr(0, query), "@")) {
      // libpq ends the user information at the first '/', so a password with an unencoded
      // '/' (postgresql://u:12/34@h/db) leaves host "u", port "12" and a database named
      // "34@h/db": part of the password, which messages would then show as the database.
      return Status::Fatal(fmt::format(
          "the URI's database name contains '@': a '/' in the password or user name must be "
          "written %2F (and an '@' in a database name %40): {}",
          kUriHelp));
    }
    if (!ValidPercent(
            rest.substr(1, query == std::string_view::npos ? std::string_view::npos : query - 1))) {
      return BadPercent("database name");
    }
    rest = query == std::string_view::npos ? std::string_view() : rest.substr(query);
  }
  if (rest.starts_with('?')) {
    const std::string_view query = rest.substr(1);
    size_t n = 0;
    size_t start = 0;
    while (start <= query.size()) {
      const size_t amp = query.find('&', start);
      const std::string_view param =
          query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
      ++n;
      const size_t eq = param.find('=');
      if (eq == std::string_view::npos) {
        return Status::Fatal(
            fmt::format("the URI's {} query parameter has no '=' (write ?KEY=VALUE&KEY=VALUE): {}",
                        Ordinal(n), kUriHelp));
      }
      const std::string_view key = param.substr(0, eq);
      // libpq also takes ssl=true, for sslmode=require.
      if (!KnownKeyword(key) && key != "ssl") {
        return Status::Fatal(fmt::format(
            "the URI's {} query parameter has a keyword libpq does not know (not shown: it may "
            "be part of a secret)",
            Ordinal(n)));
      }
      if (!ValidPercent(param.substr(eq + 1))) {
        return BadPercent(fmt::format("query parameter {}", key));
      }
      if (amp == std::string_view::npos) break;
      start = amp + 1;
    }
  }
  return Status::Ok();
}

bool IsUri(std::string_view dsn) {
  // libpq's prefixes, compared as libpq does (case-sensitive).
  return dsn.starts_with("postgresql://") || dsn.starts_with("postgres://");
}

}  // namespace

Status CheckDsn(const std::string& dsn) {
  const bool uri = IsUri(dsn);
  if (Status s = uri ? CheckUri(dsn) : CheckKeywordValue(dsn); !s.ok()) return s;
  // libpq's own parse has the last word; its error text quotes the string, so it is dropped
  // and a message of our own takes its place.
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
  if (error != nullptr) PQfreemem(error);
  if (options == nullptr) {
    return Status::Fatal(fmt::format("libpq cannot read the connection string: {}",
                                     uri ? kUriHelp : kKeywordValueHelp));
  }
  // Values libpq checks only when it connects, with errors that quote them (`invalid integer
  // value "..." for connection option "port"`), as a failed run (exit 1) rather than bad
  // configuration: checked here, by keyword, without showing the value.
  Status status = Status::Ok();
  for (PQconninfoOption* o = options; o->keyword != nullptr && status.ok(); ++o) {
    if (o->val == nullptr) continue;
    const std::string_view keyword = o->keyword;
    const std::string_view value = o->val;
    if (keyword == "port") {
      // One port, or one per host: digits, comma-separated (empty parts take the default).
      size_t begin = 0;
      while (true) {
        const size_t comma = value.find(',', begin);
        std::string_view part = value.substr(
            begin, comma == std::string_view::npos ? std::string_view::npos : comma - begin);
        // libpq allows blanks around the number.
        while (!part.empty() && IsSpace(part.front())) part.remove_prefix(1);
        while (!part.empty() && IsSpace(part.back())) part.remove_suffix(1);
        if (!AllDigits(part) || part.size() > 5) {
          status = Status::Fatal(
              "the port is not a number (write port=5432, or one port per host: port=5432,5433)");
          break;
        }
        if (comma == std::string_view::npos) break;
        begin = comma + 1;
      }
    } else if (keyword == "connect_timeout" || keyword == "keepalives" ||
               keyword == "keepalives_idle" || keyword == "keepalives_interval" ||
               keyword == "keepalives_count" || keyword == "tcp_user_timeout") {
      std::string_view digits = value;
      while (!digits.empty() && IsSpace(digits.front())) digits.remove_prefix(1);
      while (!digits.empty() && IsSpace(digits.back())) digits.remove_suffix(1);
      if (digits.starts_with('-')) digits.remove_prefix(1);
      if (digits.empty() || !AllDigits(digits) || digits.size() > 9) {
        status = Status::Fatal(
            fmt::format("the value of {} is not a whole number (e.g. {}=10)", keyword, keyword));
      }
    } else if (keyword == "sslmode") {
      static const std::set<std::string_view> modes = {"disable", "allow",     "prefer",
                                                       "require", "verify-ca", "verify-full"};
      if (!modes.count(value)) {
        status = Status::Fatal(
            "the value of sslmode is not one of disable, allow, prefer, require, verify-ca, "
            "verify-full");
      }
    }
  }
  PQconninfoFree(options);
  return status;
}

std::string RedactSecrets(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto lower = [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  constexpr std::string_view kPassword = "password";
  size_t i = 0;
  while (i < text.size()) {
    // A password keyword (password, sslpassword, any case) followed by '=': its value goes.
    if (i + kPassword.size() <= text.size() &&
        std::equal(kPassword.begin(), kPassword.end(), text.begin() + i,
                   [&](char a, char b) { return a == lower(b); })) {
      size_t j = i + kPassword.size();
      while (j < text.size() && IsSpace(text[j])) ++j;
      if (j < text.size() && text[j] == '=') {
        ++j;
        while (j < text.size() && IsSpace(text[j])) ++j;
        out.append(text.substr(i, j - i));
        if (j < text.size() && (text[j] == '\'' || text[j] == '"')) {
          const char quote = text[j];
          for (++j; j < text.size(); ++j) {
            if (text[j] == '\\') {
              ++j;
            } else if (text[j] == quote) {
              ++j;
              break;
            }
          }
        } else {
          while (j < text.size() && !IsSpace(text[j])) j += text[j] == '\\' ? 2 : 1;
        }
        out.append("***");
        i = std::min(j, text.size());
        continue;
      }
    }
    // A URI's userinfo with a password: scheme://user:secret@host. The authority ends at
    // whitespace, a quote or a '/'; the last '@' in it ends the userinfo (over-redacting an
    // unencoded '@' in the password rather than showing its end).
    if (text.substr(i, 3) == "://") {
      size_t end = i + 3;
      while (end < text.size() && !IsSpace(text[end]) && text[end] != '/' && text[end] != '"' &&
             text[end] != '\'') {
        ++end;
      }
      const std::string_view authority = text.substr(i + 3, end - i - 3);
      const size_t at = authority.rfind('@');
      const size_t colon = authority.find(':');
      if (at != std::string_view::npos && colon != std::string_view::npos && colon < at) {
        out.append("://");
        out.append(authority.substr(0, colon));
        out.append(":***@");
        i = i + 3 + at + 1;
        continue;
      }
    }
    out.push_back(text[i]);
    ++i;
  }
  return out;
}

std::string DsnPassword(const std::string& dsn) {
  auto values = ParseDsn(dsn);
  auto it = values.find("password");
  return it == values.end() ? std::string() : it->second;
}

std::string DescribeDsn(const std::string& dsn) {
  const auto values = ParseDsn(dsn);
  auto part = [&](const char* key, const char* env, const char* fallback) -> std::string {
    if (auto it = values.find(key); it != values.end()) return it->second;
    if (const char* v = std::getenv(env); v != nullptr && *v != '\0') return v;
    return fallback;
  };
  // libpq's defaults: the operating-system user, and a database named after the user.
  const passwd* pw = getpwuid(geteuid());
  const std::string user = part("user", "PGUSER", pw != nullptr ? pw->pw_name : "");
  const std::string db = part("dbname", "PGDATABASE", user.c_str());
  return fmt::format("postgres://{}@{}:{}/{}", user, part("host", "PGHOST", "localhost"),
                     part("port", "PGPORT", "5432"), db);
}

Result<PgConn> PgConnect(const std::string& dsn, std::chrono::milliseconds timeout,
                         bool unreachable_is_retriable) {
  // libpq counts whole seconds and treats anything under 2 as 2.
  const std::string seconds = std::to_string(std::max<int64_t>(
      2, std::chrono::duration_cast<std::chrono::seconds>(timeout + std::chrono::milliseconds(999))
             .count()));
  // The connection string comes last so that what the user wrote there wins. Keepalives and
  // a TCP user timeout bound how long a write can hang on a server that vanished without
  // closing the connection (a network partition): it then fails, and is retried.
  const char* keywords[] = {"connect_timeout",
                            "application_name",
                            "keepalives",
                            "keepalives_idle",
                            "keepalives_interval",
                            "keepalives_count",
                            "tcp_user_timeout",
                            "dbname",
                            nullptr};
  const char* values[] = {seconds.c_str(), "spate",     "1",    "10", "5", "3",
                          "30000",         dsn.c_str(), nullptr};
  // libpq's errors about a malformed string quote it, password included: such a string never
  // reaches libpq (the commands check it at start-up, this is the backstop).
  if (Status s = CheckDsn(dsn); !s.ok()) return s.WithContext("postgres connection string");
  PgConn conn(PQconnectdbParams(keywords, values, /*expand_dbname=*/1));
  if (conn == nullptr) return Status::Fatal("postgres: out of memory creating a connection");
  if (PQstatus(conn.get()) == CONNECTION_OK) return conn;

  const std::string error = RedactSecrets(OneLine(PQerrorMessage(conn.get())));
  if (Contains(error, "password authentication failed") || Contains(error, "no password") ||
      (Contains(error, "role \"") && Contains(error, "does not exist")) ||
      Contains(error, "pg_hba.conf") || Contains(error, "authentication failed")) {
    return Status::Fatal(fmt::format(
        "{} (fix the user or password in --pg-dsn, SPATE_PG_DSN or the config file's pg_dsn; "
        "PGUSER/PGPASSWORD also work)",
        error));
  }
  if (Contains(error, "database \"") && Contains(error, "does not exist")) {
    return Status::Fatal(fmt::format(
        "{} (create it, e.g. `createdb NAME`, or name an existing database in the connection "
        "string: --pg-dsn, SPATE_PG_DSN or the config file's pg_dsn)",
        error));
  }
  // The string may come from a flag, SPATE_PG_DSN or the config file: name them all rather
  // than send the user to a flag they did not use.
  std::string message = fmt::format(
      "cannot connect: {} (check host and port in the connection string: --pg-dsn, SPATE_PG_DSN "
      "or the config file's pg_dsn)",
      error);
  return unreachable_is_retriable ? Status::Retriable(std::move(message))
                                  : Status::Fatal(std::move(message));
}

Status PgExec(PGconn* conn, const char* sql, std::string_view what) {
  PgResult result(PQexec(conn, sql));
  const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return Status::Ok();
  return PgError(conn, result.get(), what);
}

Status PgError(PGconn* conn, const PGresult* result, std::string_view what) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  // The primary message only: the full text's CONTEXT quotes the offending input line, and
  // row data has no place in a log.
  const char* primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string text = OneLine(primary ? primary : "");
  if (text.empty()) text = OneLine(PQerrorMessage(conn));
  const std::string_view sqlstate = state ? state : "";
  // No "postgres" in front: whoever reports it names the sink (Sink::Describe).
  const std::string message =
      fmt::format("{}: {}{}{}", what, text, sqlstate.empty() ? "" : " SQLSTATE ", sqlstate);
  if (PQstatus(conn) == CONNECTION_BAD) return Status::Retriable(message + " (connection lost)");
  const std::string_view cls = sqlstate.substr(0, std::min<size_t>(2, sqlstate.size()));
  if (cls == "08" || cls == "40" || cls == "53" || sqlstate.starts_with("57P") ||
      sqlstate == "55P03") {
    return Status::Retriable(message);
  }
  return Status::Fatal(message);
}

}  // namespace spate
