#include "cql/connection.h"

#include <fcntl.h>
#include <lz4.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "core/text.h"
#include "cql/wire.h"

namespace spate::cql {
namespace {

using Clock = std::chrono::steady_clock;

// Bodies smaller than this go uncompressed: LZ4 saves nothing on a few dozen bytes. (An
// EXECUTE of a created_users row, about 500 bytes, shrinks by a fifth or so.)
constexpr size_t kCompressMin = 128;
constexpr size_t kReadChunk = 64 * 1024;

std::string Errno(int err) { return std::strerror(err); }

// Closes the fd unless released: Open has several ways out before the Connection owns it.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int release() { return std::exchange(fd_, -1); }
  int get() const { return fd_; }

 private:
  int fd_;
};

// A non-blocking connect to one address, waiting up to `timeout`.
Result<int> ConnectTo(const addrinfo& ai, std::chrono::milliseconds timeout) {
  FdGuard fd(::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol));
  if (fd.get() < 0) return Status::Fatal("socket: " + Errno(errno));
  if (::connect(fd.get(), ai.ai_addr, ai.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) return Status::Retriable(Errno(errno));
    pollfd p{fd.get(), POLLOUT, 0};
    const int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (n == 0) return Status::Retriable(fmt::format("no answer within {} ms", timeout.count()));
    if (n < 0) return Status::Retriable("poll: " + Errno(errno));
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return Status::Retriable(Errno(err));
  }
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::setsockopt(fd.get(), SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  return fd.release();
}

// The body of a frame as it goes on the wire: compressed when that pays.
void CompressBody(std::string& frame) {
  const size_t body_size = frame.size() - kHeaderSize;
  if (body_size < kCompressMin) return;
  const int bound = LZ4_compressBound(static_cast<int>(body_size));
  std::string out;
  out.resize(kHeaderSize + 4 + static_cast<size_t>(bound));
  std::memcpy(out.data(), frame.data(), kHeaderSize);
  const int n = LZ4_compress_default(frame.data() + kHeaderSize, out.data() + kHeaderSize + 4,
                                     static_cast<int>(body_size), bound);
  if (n <= 0 || static_cast<size_t>(n) + 4 >= body_size) return;  // Did not pay.
  out.resize(kHeaderSize + 4 + static_cast<size_t>(n));
  std::string patch;
  Writer w(patch);
  w.Int(static_cast<int32_t>(body_size));
  std::memcpy(out.data() + kHeaderSize, patch.data(), 4);
  out[1] = static_cast<char>(out[1] | kFlagCompression);
  patch.clear();
  w.Int(static_cast<int32_t>(n + 4));
  std::memcpy(out.data() + 5, patch.data(), 4);
  frame = std::move(out);
}

}  // namespace

std::string Endpoint::ToString() const {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                             : fmt::format("{}:{}", host, port);
}

Result<std::string> DecompressBody(std::string_view body) {
  Reader r(body);
  int32_t size = 0;
  if (!r.Int(size)) return r.status("compressed body");
  // An LZ4 block grows at most 255-fold (each extra length byte adds 255 bytes of output),
  // so a claim beyond that is a lie; trusting it let a 13-byte frame allocate 256 MB.
  const size_t compressed = body.size() - 4;
  if (size < 0 || static_cast<uint32_t>(size) > kMaxBodySize ||
      static_cast<size_t>(size) > 255 * compressed + 64) {
    return Status::Fatal(fmt::format(
        "cql: compressed body of {} bytes claims {} bytes uncompressed", compressed, size));
  }
  std::string out(static_cast<size_t>(size), '\0');
  const int n =
      LZ4_decompress_safe(body.data() + 4, out.data(), static_cast<int>(body.size() - 4), size);
  if (n != size) return Status::Fatal("cql: a compressed frame does not decompress (LZ4)");
  return out;
}

Result<std::vector<Endpoint>> ParseEndpoints(std::string_view list, uint16_t default_port) {
  std::vector<Endpoint> out;
  for (const std::string& text : SplitComma(list)) {
    const std::string_view item = text;
    Endpoint e;
    e.port = default_port;
    std::string_view host = item;
    std::string_view port;
    if (item.front() == '[') {  // [v6]:port
      const size_t close = item.find(']');
      if (close == std::string_view::npos) {
        return Status::Fatal(fmt::format("cassandra host '{}': missing ']'", item));
      }
      host = item.substr(1, close - 1);
      if (close + 1 < item.size()) {
        if (item[close + 1] != ':') {
          return Status::Fatal(fmt::format("cassandra host '{}': expected :PORT after ]", item));
        }
        port = item.substr(close + 2);
      }
    } else if (const size_t colon = item.rfind(':');
               colon != std::string_view::npos && item.find(':') == colon) {
      host = item.substr(0, colon);
      port = item.substr(colon + 1);
    }
    if (!port.empty()) {
      unsigned value = 0;
      auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
      if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
        return Status::Fatal(fmt::format("cassandra host '{}': '{}' is not a port", item, port));
      }
      e.port = static_cast<uint16_t>(value);
    }
    if (host.empty()) return Status::Fatal(fmt::format("cassandra host '{}': no host", item));
    e.host = std::string(host);
    out.push_back(std::move(e));
  }
  if (out.empty()) return Status::Fatal("no Cassandra host given (--cassandra-hosts h1,h2:9042)");
  return out;
}

Status ResponseError(const Response& response, std::string_view context) {
  if (response.opcode != Opcode::kError) {
    return Status::Fatal(fmt::format("cassandra: {}: unexpected response (opcode 0x{:02x})",
                                     context, static_cast<int>(response.opcode)));
  }
  auto error = DecodeError(response.body);
  if (!error.ok()) return error.status().WithContext(context);
  return error->ToStatus(context);
}

Connection::Connection(Endpoint endpoint, int fd)
    : endpoint_(std::move(endpoint)), fd_(fd), in_use_(kMaxStreams, false) {
  free_streams_.reserve(kMaxStreams);
  // Lowest ids first (popped from the back): easier to read in a packet capture.
  for (size_t i = kMaxStreams; i > 0; --i) free_streams_.push_back(static_cast<int16_t>(i - 1));
}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<Connection>> Connection::Open(const Endpoint& endpoint,
                                                     const ConnectionOptions& options) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(endpoint.port);
  if (int rc = ::getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return Status::Retriable(fmt::format("cassandra {}: cannot resolve the host: {}",
                                         endpoint.ToString(), ::gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
  Status last = Status::Retriable("no address");
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    auto fd = ConnectTo(*ai, options.connect_timeout);
    if (!fd.ok()) {
      last = fd.status();
      continue;
    }
    std::unique_ptr<Connection> conn(new Connection(endpoint, fd.value()));
    if (Status s = conn->Handshake(options); !s.ok()) return s;
    return conn;
  }
  return Status::Retriable(
      fmt::format("cassandra {}: cannot connect: {}", endpoint.ToString(), last.message()));
}

Status Connection::Handshake(const ConnectionOptions& options) {
  const std::string where = endpoint_.ToString();
  const auto timeout = options.connect_timeout;
  auto supported = Call(EncodeOptions(0), timeout);
  if (!supported.ok()) return supported.status();
  bool lz4 = false;
  if (supported->opcode == Opcode::kSupported) {
    Reader r(supported->body);
    std::map<std::string, std::vector<std::string>> offered;
    if (r.StringMultimap(offered)) {
      for (const std::string& c : offered["COMPRESSION"]) lz4 = lz4 || c == "lz4";
    }
  } else {
    return ResponseError(*supported, fmt::format("{}: OPTIONS", where));
  }
  std::map<std::string, std::string> startup{{"CQL_VERSION", "3.0.0"}};
  const bool compress = options.compression && lz4;
  if (compress) startup["COMPRESSION"] = "lz4";
  auto ready = Call(EncodeStartup(0, startup), timeout);
  if (!ready.ok()) return ready.status();
  // From here on, frames may be compressed (the STARTUP exchange itself never is).
  compress_ = compress;
  if (ready->opcode == Opcode::kAuthenticate) {
    Reader r(ready->body);
    std::string authenticator;
    r.String(authenticator);
    if (options.user.empty()) {
      return Status::Fatal(fmt::format(
          "cassandra {} requires a login ({}): set cassandra_user and cassandra_password in the "
          "config, or SPATE_CASSANDRA_USER and SPATE_CASSANDRA_PASSWORD",
          where, authenticator));
    }
    auto answer = Call(EncodeAuthResponse(0, options.user, options.password), timeout);
    if (!answer.ok()) return answer.status();
    if (answer->opcode == Opcode::kAuthChallenge) {
      return Status::Fatal(fmt::format(
          "cassandra {}: the authenticator {} asks for more than a user name and password "
          "(only PasswordAuthenticator is supported)",
          where, authenticator));
    }
    if (answer->opcode != Opcode::kAuthSuccess) {
      Status s = ResponseError(*answer, fmt::format("{}: login as '{}'", where, options.user));
      return Status::Fatal(s.message() +
                           " (check cassandra_user / cassandra_password, or SPATE_CASSANDRA_USER "
                           "/ SPATE_CASSANDRA_PASSWORD)");
    }
    return Status::Ok();
  }
  if (ready->opcode != Opcode::kReady)
    return ResponseError(*ready, fmt::format("{}: STARTUP", where));
  return Status::Ok();
}

Result<int16_t> Connection::Send(std::string frame) {
  if (free_streams_.empty()) return Status::Retriable("cql: every stream id is in use");
  const int16_t stream = free_streams_.back();
  free_streams_.pop_back();
  in_use_[static_cast<size_t>(stream)] = true;
  frame[2] = static_cast<char>((static_cast<uint16_t>(stream) >> 8) & 0xff);
  frame[3] = static_cast<char>(static_cast<uint16_t>(stream) & 0xff);
  if (compress_) CompressBody(frame);
  if (out_sent_ == out_.size()) {
    out_.clear();
    out_sent_ = 0;
  }
  if (out_.empty()) {
    out_ = std::move(frame);
  } else {
    out_.append(frame);
  }
  return stream;
}

void Connection::Release(int16_t stream) {
  // Only ids given out and not yet released: a stray or repeated id from the node must not
  // put an id on the free list twice (it would then go to two requests at once).
  if (stream < 0 || !in_use_[static_cast<size_t>(stream)]) return;
  in_use_[static_cast<size_t>(stream)] = false;
  free_streams_.push_back(stream);
}

short Connection::poll_events() const {
  return static_cast<short>(POLLIN | (out_sent_ < out_.size() ? POLLOUT : 0));
}

Status Connection::WriteSome() {
  while (out_sent_ < out_.size()) {
    const ssize_t n = ::send(fd_, out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return Status::Retriable(
          fmt::format("cassandra {}: connection lost: {}", endpoint_.ToString(), Errno(errno)));
    }
    out_sent_ += static_cast<size_t>(n);
  }
  if (out_sent_ == out_.size()) {
    out_.clear();
    out_sent_ = 0;
  } else if (out_sent_ > (1u << 20)) {  // Keep the buffer from growing without end.
    out_.erase(0, out_sent_);
    out_sent_ = 0;
  }
  return Status::Ok();
}

Status Connection::ReadFrames(std::vector<Response>& out) {
  // An error or the end of the stream is returned after the frames already read are handed
  // out: a node may answer and then close, and those answers count.
  Status closed;
  for (;;) {
    if (in_used_ > 0 && in_used_ * 2 > in_.size()) {
      in_.erase(0, in_used_);
      in_used_ = 0;
    }
    const size_t old = in_.size();
    in_.resize(old + kReadChunk);
    const ssize_t n = ::recv(fd_, in_.data() + old, kReadChunk, 0);
    in_.resize(old + (n > 0 ? static_cast<size_t>(n) : 0));
    if (n == 0) {
      closed = Status::Retriable(
          fmt::format("cassandra {}: the node closed the connection", endpoint_.ToString()));
      break;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      closed = Status::Retriable(
          fmt::format("cassandra {}: connection lost: {}", endpoint_.ToString(), Errno(errno)));
      break;
    }
  }
  while (in_.size() - in_used_ >= kHeaderSize) {
    std::string_view rest(in_.data() + in_used_, in_.size() - in_used_);
    auto header = DecodeHeader(rest, kResponseVersion);
    if (!header.ok()) return header.status().WithContext(endpoint_.ToString());
    if (rest.size() < kHeaderSize + header->length) break;
    std::string_view body = rest.substr(kHeaderSize, header->length);
    in_used_ += kHeaderSize + header->length;
    Response response;
    response.stream = header->stream;
    response.opcode = header->opcode;
    if ((header->flags & kFlagCompression) != 0) {
      // Only after STARTUP agreed on LZ4 may a frame be compressed.
      if (!compress_) {
        return Status::Fatal(
            fmt::format("cassandra {}: a compressed frame, but compression was not agreed",
                        endpoint_.ToString()));
      }
      auto plain = DecompressBody(body);
      if (!plain.ok()) return plain.status().WithContext(endpoint_.ToString());
      response.body = std::move(plain).value();
    } else {
      response.body.assign(body);
    }
    std::string_view view(response.body);
    auto warnings = StripResponsePrefix(header->flags, view);
    if (!warnings.ok()) return warnings.status().WithContext(endpoint_.ToString());
    response.warnings = std::move(warnings).value();
    if (view.size() != response.body.size()) {
      response.body.erase(0, response.body.size() - view.size());
    }
    out.push_back(std::move(response));
  }
  return closed;
}

Status Connection::Pump(short revents, std::vector<Response>& out) {
  if ((revents & (POLLERR | POLLNVAL)) != 0) {
    return Status::Retriable(fmt::format("cassandra {}: connection lost", endpoint_.ToString()));
  }
  if (Status s = WriteSome(); !s.ok()) return s;
  if ((revents & (POLLIN | POLLHUP)) != 0) return ReadFrames(out);
  return Status::Ok();
}

Result<Response> Connection::Call(std::string frame, std::chrono::milliseconds timeout,
                                  std::vector<Response>* others) {
  auto stream = Send(std::move(frame));
  if (!stream.ok()) return stream.status();
  const auto deadline = Clock::now() + timeout;
  std::vector<Response> got;
  for (;;) {
    std::optional<Response> mine;
    for (Response& r : got) {
      if (r.stream == stream.value()) {
        Release(r.stream);
        mine = std::move(r);
      } else if (others != nullptr) {
        others->push_back(std::move(r));
      } else {
        Release(r.stream);  // Nobody else is waiting for answers on this connection.
      }
    }
    got.clear();
    if (mine) return std::move(*mine);
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return Status::Retriable(fmt::format("cassandra {}: no answer within {} ms",
                                           endpoint_.ToString(), timeout.count()));
    }
    pollfd p{fd_, poll_events(), 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) return Status::Retriable("poll: " + Errno(errno));
    if (n > 0) {
      if (Status s = Pump(p.revents, got); !s.ok()) return s;
    }
  }
}

}  // namespace spate::cql
