#include "sinks/pg.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>

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

}  // namespace

std::string Scrub(std::string message, std::string_view secret) {
  if (secret.empty()) return message;
  for (size_t at = message.find(secret); at != std::string::npos; at = message.find(secret, at)) {
    message.replace(at, secret.size(), "***");
  }
  return message;
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
  PgConn conn(PQconnectdbParams(keywords, values, /*expand_dbname=*/1));
  if (conn == nullptr) return Status::Fatal("postgres: out of memory creating a connection");
  if (PQstatus(conn.get()) == CONNECTION_OK) return conn;

  const std::string error = Scrub(OneLine(PQerrorMessage(conn.get())), DsnPassword(dsn));
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
        "{} (create it, e.g. `createdb NAME`, or name an existing database in --pg-dsn)", error));
  }
  std::string message = fmt::format("cannot connect: {} (check host and port in --pg-dsn)", error);
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
