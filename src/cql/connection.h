// One TCP connection to one Cassandra node, speaking protocol v4.
//
// Many requests are in flight at once, each on its own stream id (0..32767): Send queues a
// frame and returns at once, Pump moves bytes both ways and returns the responses that are
// complete, in whatever order the node answers. Nothing here blocks except Open (the
// handshake) and Call (one request and its answer, for set-up); the socket is non-blocking,
// so a node that answers slowly never stops the requests already queued for other nodes.
//
// Open runs OPTIONS, STARTUP (with LZ4 compression when asked for and offered), and the
// PasswordAuthenticator exchange when the node asks for credentials. Compressed frames
// carry the uncompressed length (4 bytes, big-endian) and an LZ4 block (spec section 5);
// small bodies are sent uncompressed, which the per-frame flag allows.
//
// Thread-safety: one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "cql/protocol.h"

namespace spate::cql {

struct Endpoint {
  std::string host;
  uint16_t port = 9042;
  std::string ToString() const;
};

// "h1,h2:9043,[::1]:9042" -> endpoints; a host without a port gets `default_port`.
Result<std::vector<Endpoint>> ParseEndpoints(std::string_view list, uint16_t default_port = 9042);

// The body of a compressed frame (a 4-byte uncompressed length, then an LZ4 block), decoded.
// A length the block cannot produce is refused before anything is allocated: the length
// comes from the network.
Result<std::string> DecompressBody(std::string_view body);

struct ConnectionOptions {
  std::string user;         // Empty: no credentials (fails if the node asks for them).
  std::string password;     // Never logged.
  bool compression = true;  // LZ4 when the node offers it.
  std::chrono::milliseconds connect_timeout{5000};
};

struct Response {
  int16_t stream = 0;  // -1 for an EVENT.
  Opcode opcode = Opcode::kError;
  std::string body;  // Uncompressed, tracing id and warnings taken off.
  std::vector<std::string> warnings;
};

class Connection {
 public:
  // Connects and runs the handshake. Errors: Retriable when the node could not be reached
  // or did not answer in time; Fatal for what retrying will not fix (bad credentials, a
  // node that does not speak v4), with the fix in the message.
  static Result<std::unique_ptr<Connection>> Open(const Endpoint& endpoint,
                                                  const ConnectionOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Queues `frame` (a request encoded with any stream id; Send sets it) and returns the
  // stream id it went out on. Fails only when every stream id is taken.
  Result<int16_t> Send(std::string frame);
  bool has_free_stream() const { return !free_streams_.empty(); }
  size_t in_flight() const { return kMaxStreams - free_streams_.size(); }

  // For poll(): the fd, and the events to wait for (POLLIN, plus POLLOUT while bytes wait).
  int fd() const { return fd_; }
  short poll_events() const;
  // Writes what the socket takes, reads what it has, and appends each complete response
  // to `out`. An error means the connection is dead: every request still in flight on it
  // is lost and must be sent again elsewhere.
  Status Pump(short revents, std::vector<Response>& out);
  // Frees a response's stream id for reuse. Separate from Pump so that an id is not handed
  // out again while the caller still has an unhandled answer that carries it.
  void Release(int16_t stream);

  // Sends one request and waits up to `timeout` for its answer. Answers to other streams
  // that arrive meanwhile are appended to `others` (whose owner then Releases them), or
  // dropped and released when `others` is null.
  Result<Response> Call(std::string frame, std::chrono::milliseconds timeout,
                        std::vector<Response>* others = nullptr);

  const Endpoint& endpoint() const { return endpoint_; }
  bool compressed() const { return compress_; }

  static constexpr size_t kMaxStreams = 32768;

 private:
  Connection(Endpoint endpoint, int fd);
  Status Handshake(const ConnectionOptions& options);
  Status ReadFrames(std::vector<Response>& out);
  Status WriteSome();

  const Endpoint endpoint_;
  int fd_ = -1;
  bool compress_ = false;
  std::vector<int16_t> free_streams_;
  std::vector<bool> in_use_;  // By stream id: given out and not yet released.
  std::string out_;           // Bytes not yet written; out_sent_ of them already are.
  size_t out_sent_ = 0;
  std::string in_;  // Bytes read but not yet a whole frame; in_used_ of them consumed.
  size_t in_used_ = 0;
};

// An ERROR response as a Status ("cassandra: CONTEXT: Bad_credentials: ..."), its kind from
// ServerError::retriable; any other opcode is reported as an unexpected (fatal) response.
Status ResponseError(const Response& response, std::string_view context);

}  // namespace spate::cql
