// libpq essentials for the PostgreSQL sink: owning handles, connecting with errors that name
// the fix, and turning a failed command into a Status that says whether retrying can help.
//
// Credentials: a connection string may hold a password. Nothing here ever puts the string in
// a message; DescribeDsn gives host, port, database and user only, and every libpq error text
// is scrubbed of the password before it leaves (libpq does not echo it, but a server or a
// proxy might).
//
// Thread-safety: a PgConn belongs to one thread at a time (libpq's rule).
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace spate {

struct PgConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using PgConn = std::unique_ptr<PGconn, PgConnDeleter>;

struct PgResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

// What a connection string points at, without secrets: "postgres://user@host:port/db".
// Unset parts show libpq's defaults (PG* variables included).
std::string DescribeDsn(const std::string& dsn);

// Connects, waiting at most `timeout`. A failure says what to fix: a wrong password or user,
// a database that does not exist, a server that cannot be reached. Those three are fatal (they
// do not heal by waiting) unless `unreachable_is_retriable` (reconnecting mid-stream, when a
// server restart is expected to end).
Result<PgConn> PgConnect(const std::string& dsn, std::chrono::milliseconds timeout,
                         bool unreachable_is_retriable);

// Runs a command without parameters (DDL, BEGIN/COMMIT) and checks it succeeded.
Status PgExec(PGconn* conn, const char* sql, std::string_view what);

// The Status for a failed command: retriable when the connection broke or the server says
// the condition is transient (SQLSTATE class 08 connection, 40 rollback such as
// serialization failure or deadlock, 53 insufficient resources, 57P0x shutdown/crash,
// 55P03 lock not available); fatal otherwise (syntax, permissions, constraint violations).
Status PgError(PGconn* conn, const PGresult* result, std::string_view what);

// Removes `secret` from a message (used for libpq errors; see the header comment).
std::string Scrub(std::string message, std::string_view secret);

// The password of a connection string, if it has one (for Scrub).
std::string DsnPassword(const std::string& dsn);

}  // namespace spate
