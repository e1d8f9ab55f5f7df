// libpq essentials for the PostgreSQL sink: owning handles, connecting with errors that name
// the fix, and turning a failed command into a Status that says whether retrying can help.
//
// Credentials (issue 17, items 2 and 3): a connection string may hold a password. Nothing here
// ever puts the string, or any part of it that could be the password, in a message: errors
// about a malformed string (CheckDsn) are built from spate's own parse of its structure and
// say which keyword or part is wrong, never quote it (libpq's parser quotes the offending
// text: `password=my TOPSECRET` gave `missing "=" after "TOPSECRET"`). DescribeDsn gives host,
// port, database and user only. Text that comes from elsewhere (libpq's connection errors, a
// server's) goes through RedactSecrets, which removes secrets by structure: the value of a
// password= keyword and the password of a URI's userinfo. Never a substring replace of the
// password itself: with password `o`, that turned "connection refused" into
// "c***nnecti***n refused", garbling every message and telling the password to the reader.
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

// Checks a connection string's structure: KEY=VALUE settings with keywords libpq knows
// (values with spaces quoted), or a postgresql:// URI (an '@' in its database part is refused:
// it means a password with an unencoded '/', which libpq would split into host, port and
// database); and the values libpq checks only when it connects (port, connect_timeout,
// keepalives*, tcp_user_timeout, sslmode). An empty string is valid (libpq's defaults). The error
// says which part is wrong and how to write it, and never contains any of the string's text except
// known keyword names. Run it before any connection attempt: PgConnect refuses a string that fails
// it.
Status CheckDsn(const std::string& dsn);

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

// Removes secrets from foreign text by structure: the value of every `password` keyword
// (`password=x`, `password = 'a b'`, any case) and the password of every URI userinfo
// (`scheme://user:x@` becomes `scheme://user:***@`). Text without either is returned
// unchanged, byte for byte.
std::string RedactSecrets(std::string_view text);

// The password of a connection string, if it has one.
std::string DsnPassword(const std::string& dsn);

}  // namespace spate
