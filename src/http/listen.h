// Listening the same way wherever spate serves HTTP (the mock API, the --http server).
//
// Thread-safety: called from the server's controlling thread, before any other use.
#pragma once

#include <string>
#include <string_view>
#include <thread>

#include "core/status.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace spate {

// Sets the socket options every spate server wants (TCP_NODELAY; SO_REUSEADDR but not
// cpp-httplib's default SO_REUSEPORT, which would let a second process bind the same port
// and silently take half the traffic: a busy port is an error), binds `host`:`port` (0: a
// free port) and runs the accept loop on `listener`. Returns the bound port once connections
// are accepted, so a URL printed after it works at once and a Stop never races the
// listener's start. Errors say why ("the port is in use (...)"), after `who`; the server is
// then not listening and `listener` not running.
Result<int> BindAndListen(httplib::Server& server, const std::string& host, int port,
                          std::jthread& listener, std::string_view who);

}  // namespace spate
