#include "cql/session.h"

#include <poll.h>

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cql/murmur3.h"

namespace spate::cql {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A re-prepared request that still meets Unprepared is given up (as retriable) after this.
constexpr int kMaxReprepares = 3;

// The column named `name` of the first row, as its bytes.
std::optional<std::string_view> Column(const RowsResult& rows, std::string_view name) {
  if (rows.rows.empty()) return std::nullopt;
  for (size_t i = 0; i < rows.columns.size() && i < rows.rows[0].size(); ++i) {
    if (rows.columns[i].name == name) return rows.rows[0][i];
  }
  return std::nullopt;
}

}  // namespace

struct Session::Pending {
  enum class Kind { kUser, kReprepare };
  Kind kind = Kind::kUser;
  uint64_t tag = 0;
  std::string frame;        // kUser: the EXECUTE, to send again after a re-prepare.
  std::string prepared_id;  // Which statement (kUser), or which one is being prepared.
  Clock::time_point sent;
  int reprepares = 0;
};

struct Session::Host {
  Endpoint endpoint;
  std::unique_ptr<Connection> conn;  // Null while down.
  Clock::time_point next_attempt;
  milliseconds backoff{0};
  std::vector<int64_t> tokens;
  std::unordered_map<int16_t, Pending> pending;
  // Requests waiting for their statement to be prepared again on this node, by id.
  std::unordered_map<std::string, std::vector<Pending>> waiting;
};

Session::Session(SessionOptions options) : options_(std::move(options)) {
  for (const Endpoint& e : options_.hosts) {
    auto host = std::make_unique<Host>();
    host->endpoint = e;
    host->backoff = options_.reconnect_min;
    hosts_.push_back(std::move(host));
  }
}

Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::Connect(SessionOptions options) {
  if (options.hosts.empty()) return Status::Fatal("cassandra: no hosts given");
  std::unique_ptr<Session> session(new Session(std::move(options)));
  std::vector<std::string> failures;
  Status first_error;
  for (size_t h = 0; h < session->hosts_.size(); ++h) {
    Status s = session->Reconnect(h, /*background=*/false);
    if (s.ok()) continue;
    if (s.kind() == ErrorKind::kFatal) return s;  // Bad credentials: the same everywhere.
    failures.push_back(s.message());
  }
  if (session->hosts_up() == 0) {
    return Status::Retriable(
        fmt::format("none of the Cassandra nodes answered ({}); is Cassandra running there, and is "
                    "--cassandra-hosts right?",
                    fmt::join(failures, "; ")));
  }
  for (const std::string& f : failures) spdlog::warn("{} (will keep trying)", f);
  return session;
}

Status Session::Reconnect(size_t h, bool background) {
  Host& host = *hosts_[h];
  ConnectionOptions connection = options_.connection;
  milliseconds timeout = options_.request_timeout;
  // A reconnect runs on the thread that sends the writes: a node that swallows packets, or
  // accepts and then stalls, must not hold them up for the whole request timeout each time
  // its backoff passes.
  if (background) {
    connection.connect_timeout = std::min(connection.connect_timeout, options_.reconnect_timeout);
    timeout = std::min(timeout, options_.reconnect_timeout);
  }
  auto failed = [&](Status why) {
    host.conn.reset();
    host.next_attempt = Clock::now() + host.backoff;
    host.backoff = std::min(host.backoff * 2, options_.reconnect_max);
    return why;
  };
  auto conn = Connection::Open(host.endpoint, connection);
  if (!conn.ok()) return failed(conn.status());
  host.conn = std::move(conn).value();
  if (Status s = ReadTopology(h, timeout); !s.ok()) return failed(s);
  // Learn of nodes going down or coming back before a request times out on them.
  auto registered =
      host.conn->Call(EncodeRegister(0, {"STATUS_CHANGE", "TOPOLOGY_CHANGE"}), timeout);
  if (!registered.ok()) return failed(registered.status());
  host.backoff = options_.reconnect_min;  // Only once the node is fully usable again.
  return Status::Ok();
}

Status Session::ReadTopology(size_t h, milliseconds timeout) {
  Host& host = *hosts_[h];
  QueryParams params;
  params.consistency = Consistency::kOne;
  auto answer = host.conn->Call(EncodeQuery(0, "SELECT * FROM system.local", params), timeout);
  if (!answer.ok()) return answer.status();
  if (answer->opcode != Opcode::kResult) {
    return ResponseError(*answer, host.endpoint.ToString() + ": reading system.local");
  }
  auto result = DecodeResult(answer->body);
  if (!result.ok()) return result.status().WithContext("system.local");
  host.tokens.clear();
  if (auto tokens = Column(result->rows, "tokens"); tokens) {
    auto set = DecodeValue(Type(TypeId::kSet, {Type(TypeId::kVarchar)}), *tokens);
    if (set.ok()) {
      for (const Value& v : std::get<List>(set->v)) {
        const auto* text = std::get_if<std::string>(&v.v);
        int64_t token = 0;
        if (text != nullptr &&
            std::from_chars(text->data(), text->data() + text->size(), token).ec == std::errc()) {
          host.tokens.push_back(token);
        }
      }
    }
  }
  RebuildRing();
  return Status::Ok();
}

void Session::RebuildRing() {
  ring_.clear();
  for (size_t h = 0; h < hosts_.size(); ++h) {
    for (int64_t t : hosts_[h]->tokens) ring_.emplace_back(t, h);
  }
  std::sort(ring_.begin(), ring_.end());
}

size_t Session::hosts_up() const {
  return static_cast<size_t>(std::count_if(hosts_.begin(), hosts_.end(),
                                           [](const auto& h) { return h->conn != nullptr; }));
}

std::string Session::Describe() const {
  std::vector<std::string> names;
  for (const auto& h : hosts_) names.push_back(h->endpoint.ToString());
  return fmt::format("cassandra {}", fmt::join(names, ","));
}

Result<Response> Session::Call(size_t h, std::string frame) {
  Host& host = *hosts_[h];
  if (!host.conn && Clock::now() >= host.next_attempt) (void)Reconnect(h, /*background=*/true);
  if (!host.conn) return Status::Retriable(host.endpoint.ToString() + " is down");
  std::vector<Response> others;
  auto answer = host.conn->Call(std::move(frame), options_.request_timeout, &others);
  for (Response& r : others) Dispatch(h, std::move(r));
  if (!answer.ok()) HostDown(h, answer.status());
  return answer;
}

Result<QueryResult> Session::OnAnyNode(const std::string& frame, std::string_view what) {
  Status last = Status::Retriable("cassandra: no node is connected");
  for (size_t h = 0; h < hosts_.size(); ++h) {
    auto answer = Call(h, frame);
    if (!answer.ok()) {
      last = answer.status();
      continue;  // Another node may answer.
    }
    if (answer->opcode != Opcode::kResult) return ResponseError(*answer, what);
    QueryResult out;
    out.body = std::make_unique<std::string>(std::move(answer->body));
    auto result = DecodeResult(*out.body);
    if (!result.ok()) return result.status().WithContext(what);
    out.message = std::move(result).value();
    return out;
  }
  return last;
}

Result<QueryResult> Session::Query(std::string_view cql, const QueryParams& params) {
  return OnAnyNode(EncodeQuery(0, cql, params), cql);
}

Result<QueryResult> Session::Batch(const Prepared& statement,
                                   const std::vector<std::vector<Value>>& rows) {
  return OnAnyNode(EncodeBatch(0, statement.id, rows, options_.consistency),
                   "BATCH of " + statement.cql);
}

Result<std::shared_ptr<const Prepared>> Session::Prepare(std::string_view cql) {
  std::shared_ptr<Prepared> prepared;
  Status last = Status::Retriable("cassandra: no node is connected");
  for (size_t h = 0; h < hosts_.size(); ++h) {
    if (!hosts_[h]->conn) continue;
    auto answer = Call(h, EncodePrepare(0, cql));
    if (!answer.ok()) {
      last = answer.status();
      continue;
    }
    if (answer->opcode != Opcode::kResult) return ResponseError(*answer, cql);
    auto result = DecodeResult(answer->body);
    if (!result.ok()) return result.status();
    if (result->kind != ResultKind::kPrepared) {
      return Status::Fatal(fmt::format("cassandra: PREPARE of '{}' did not return Prepared", cql));
    }
    if (!prepared) {
      prepared = std::make_shared<Prepared>();
      prepared->cql = std::string(cql);
      prepared->id = result->prepared.id;
      prepared->bind = result->prepared.bind;
      prepared->pk_indexes = result->prepared.pk_indexes;
    }
  }
  if (!prepared) return last;
  by_id_[prepared->id] = prepared;
  return std::shared_ptr<const Prepared>(prepared);
}

void Session::WaitForSchemaAgreement(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    std::vector<std::string> versions;
    for (size_t h = 0; h < hosts_.size(); ++h) {
      if (!hosts_[h]->conn) continue;
      auto answer = Call(h, EncodeQuery(0, "SELECT * FROM system.local", {}));
      if (!answer.ok() || answer->opcode != Opcode::kResult) continue;
      auto result = DecodeResult(answer->body);
      if (!result.ok()) continue;
      auto version = Column(result->rows, "schema_version");
      if (version) versions.emplace_back(*version);
    }
    if (std::adjacent_find(versions.begin(), versions.end(), std::not_equal_to<>()) ==
        versions.end()) {
      return;
    }
    if (Clock::now() >= deadline) {
      spdlog::warn("cassandra: the nodes still disagree on the schema after {} ms; going on",
                   timeout.count());
      return;
    }
    std::this_thread::sleep_for(milliseconds(200));
  }
}

std::optional<size_t> Session::PickHost(std::optional<int64_t> token) const {
  if (token && !ring_.empty()) {
    auto it = std::lower_bound(ring_.begin(), ring_.end(), std::make_pair(*token, size_t{0}));
    // The owner of a token is the first node at or after it on the ring; if it is down, the
    // next ones (the replicas under SimpleStrategy) in ring order.
    for (size_t i = 0; i < ring_.size(); ++i, ++it) {
      if (it == ring_.end()) it = ring_.begin();
      if (hosts_[it->second]->conn) return it->second;
    }
  }
  for (size_t i = 0; i < hosts_.size(); ++i) {
    const size_t h = (next_host_ + i) % hosts_.size();
    if (hosts_[h]->conn) return h;
  }
  return std::nullopt;
}

std::optional<int64_t> Session::TokenOf(const Prepared& statement,
                                        const std::vector<Value>& values) {
  if (statement.pk_indexes.empty()) return std::nullopt;
  for (uint16_t i : statement.pk_indexes) {
    if (i >= values.size()) return std::nullopt;
  }
  if (statement.pk_indexes.size() == 1) {
    // The usual single-column key, once per row: serialized into a buffer kept between calls.
    key_scratch_.clear();
    AppendValue(values[statement.pk_indexes[0]], key_scratch_);
    return Murmur3Token(std::string_view(key_scratch_).substr(4));  // Without [int] length.
  }
  std::vector<std::string> parts;
  for (uint16_t i : statement.pk_indexes) {
    std::string bytes;
    AppendValue(values[i], bytes);
    parts.push_back(bytes.substr(4));
  }
  std::vector<std::string_view> views(parts.begin(), parts.end());
  return Murmur3Token(CompositeKey(views));
}

void Session::Execute(const std::shared_ptr<const Prepared>& statement, std::vector<Value> values,
                      uint64_t tag) {
  ++in_flight_;
  const std::optional<int64_t> token = TokenOf(*statement, values);
  auto h = PickHost(token);
  if (!h) {
    ReconnectDue();
    h = PickHost(token);
  }
  if (!h) {
    Complete(tag, Status::Retriable("cassandra: no node is reachable; reconnecting"));
    return;
  }
  next_host_ = (*h + 1) % hosts_.size();
  QueryParams params;
  params.consistency = options_.consistency;
  params.skip_metadata = true;
  params.values = std::move(values);
  Pending p;
  p.tag = tag;
  p.frame = EncodeExecute(0, statement->id, params);
  p.prepared_id = statement->id;
  SendUser(*h, std::move(p));
}

void Session::SendUser(size_t h, Pending p) {
  Host& host = *hosts_[h];
  auto stream = host.conn->Send(p.frame);
  if (!stream.ok()) {
    Complete(p.tag, stream.status());
    return;
  }
  p.sent = Clock::now();
  const uint64_t tag = p.tag;
  if (!host.pending.emplace(stream.value(), std::move(p)).second) {
    // A stream id given out twice would lose an answer; it is a bug, so say so loudly.
    Complete(tag, Status::Fatal("cql: internal error: a stream id in use was given out again"));
  }
}

void Session::Complete(uint64_t tag, Status status, std::optional<ErrorCode> code) {
  --in_flight_;
  done_.push_back({tag, std::move(status), code});
}

void Session::HostDown(size_t h, const Status& why) {
  Host& host = *hosts_[h];
  if (!host.conn) return;
  host.conn.reset();
  size_t lost = 0;
  for (auto& [stream, p] : host.pending) {
    if (p.kind == Pending::Kind::kUser) {
      Complete(p.tag, Status::Retriable(why.message()));
      ++lost;
    }
  }
  for (auto& [id, list] : host.waiting) {
    for (Pending& p : list) Complete(p.tag, Status::Retriable(why.message()));
    lost += list.size();
  }
  host.pending.clear();
  host.waiting.clear();
  host.next_attempt = Clock::now() + host.backoff;
  spdlog::warn("{} ({} requests in flight will be sent again); reconnecting in {} ms",
               why.message(), lost, host.backoff.count());
  host.backoff = std::min(host.backoff * 2, options_.reconnect_max);
}

void Session::Dispatch(size_t h, Response response) {
  Host& host = *hosts_[h];
  if (response.stream < 0) {
    if (response.opcode == Opcode::kEvent) {
      auto event = DecodeEvent(response.body);
      if (event.ok()) {
        spdlog::info("cassandra {}: event {} {} {}", host.endpoint.ToString(), event->type,
                     event->change, event->address);
        // A node reported up: try it now instead of waiting out its backoff.
        if (event->change == "UP") {
          for (auto& other : hosts_) {
            if (!other->conn) other->next_attempt = Clock::now();
          }
        }
      }
    }
    return;
  }
  if (!host.conn) return;  // It went down while earlier answers were handled.
  for (const std::string& w : response.warnings) {
    spdlog::warn("cassandra {}: {}", host.endpoint.ToString(), w);
  }
  auto it = host.pending.find(response.stream);
  if (it == host.pending.end()) {  // An answer after a timeout.
    host.conn->Release(response.stream);
    return;
  }
  Pending p = std::move(it->second);
  host.pending.erase(it);
  // Only now may the id go out again: a Send below must find its slot in `pending` empty.
  host.conn->Release(response.stream);

  if (p.kind == Pending::Kind::kReprepare) {
    auto waiting = std::move(host.waiting[p.prepared_id]);
    host.waiting.erase(p.prepared_id);
    Status failed;
    if (response.opcode != Opcode::kResult) {
      failed = ResponseError(response, "preparing again");
    } else if (auto result = DecodeResult(response.body); !result.ok()) {
      failed = result.status();
    } else if (result->kind != ResultKind::kPrepared || result->prepared.id != p.prepared_id) {
      failed = Status::Retriable("cassandra: a statement prepared again got another id");
    }
    for (Pending& w : waiting) {
      if (failed.ok()) {
        SendUser(h, std::move(w));
      } else {
        Complete(w.tag, failed);
      }
    }
    return;
  }

  if (response.opcode == Opcode::kResult) {
    Complete(p.tag, Status::Ok());
    return;
  }
  if (response.opcode != Opcode::kError) {
    Complete(p.tag, ResponseError(response, "EXECUTE"));
    return;
  }
  auto error = DecodeError(response.body);
  if (!error.ok()) {
    Complete(p.tag, error.status());
    return;
  }
  if (error->code == ErrorCode::kUnprepared) {
    auto statement = by_id_.find(p.prepared_id);
    if (statement == by_id_.end() || p.reprepares >= kMaxReprepares) {
      Complete(p.tag, error->ToStatus(host.endpoint.ToString()), error->code);
      return;
    }
    ++p.reprepares;
    std::vector<Pending>& queue = host.waiting[p.prepared_id];
    queue.push_back(std::move(p));
    if (queue.size() == 1) {  // The first to find out prepares it; the others wait.
      spdlog::info("cassandra {}: statement not prepared there (restarted?); preparing again",
                   host.endpoint.ToString());
      auto stream = host.conn->Send(EncodePrepare(0, statement->second->cql));
      if (!stream.ok()) {
        HostDown(h, stream.status());
        return;
      }
      Pending prepare;
      prepare.kind = Pending::Kind::kReprepare;
      prepare.prepared_id = statement->first;
      prepare.sent = Clock::now();
      host.pending.emplace(stream.value(), std::move(prepare));
    }
    return;
  }
  Complete(p.tag, error->ToStatus(host.endpoint.ToString()), error->code);
}

bool Session::ReconnectDue() {
  const auto now = Clock::now();
  bool tried = false;
  for (size_t h = 0; h < hosts_.size(); ++h) {
    Host& host = *hosts_[h];
    if (host.conn || now < host.next_attempt) continue;
    tried = true;
    Status s = Reconnect(h, /*background=*/true);
    if (s.ok()) {
      spdlog::info("cassandra {}: reconnected", host.endpoint.ToString());
    } else {
      spdlog::debug("{}", s.message());
    }
  }
  if (tried) {
    // Answers that came in while a reconnect blocked are not read yet: give the next Poll
    // the chance to read them before their requests count as timed out.
    next_timeout_check_ = Clock::now() + milliseconds(100);
  }
  return tried;
}

void Session::CheckTimeouts() {
  const auto now = Clock::now();
  if (now < next_timeout_check_) return;
  next_timeout_check_ = now + milliseconds(100);
  for (size_t h = 0; h < hosts_.size(); ++h) {
    for (const auto& [stream, p] : hosts_[h]->pending) {
      if (now - p.sent > options_.request_timeout) {
        HostDown(h, Status::Retriable(fmt::format("cassandra {}: no answer within {} ms",
                                                  hosts_[h]->endpoint.ToString(),
                                                  options_.request_timeout.count())));
        break;
      }
    }
  }
}

void Session::Poll(milliseconds timeout, std::vector<Completion>& out) {
  if (done_.empty()) {
    std::vector<pollfd> fds;
    std::vector<size_t> which;
    for (size_t h = 0; h < hosts_.size(); ++h) {
      if (!hosts_[h]->conn) continue;
      fds.push_back({hosts_[h]->conn->fd(), hosts_[h]->conn->poll_events(), 0});
      which.push_back(h);
    }
    auto wait = timeout;
    for (const auto& host : hosts_) {  // Wake for a reconnect that falls due meanwhile.
      if (host->conn) continue;
      wait = std::min(wait, std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(
                                                          host->next_attempt - Clock::now())));
    }
    const int n = ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
    if (n > 0) {
      std::vector<Response> responses;
      for (size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        const size_t h = which[i];
        responses.clear();
        Status s = hosts_[h]->conn->Pump(fds[i].revents, responses);
        for (Response& r : responses) Dispatch(h, std::move(r));
        if (!s.ok()) HostDown(h, s);
      }
    }
  }
  // After the pump, so that the writes already queued are on their way while it blocks.
  ReconnectDue();
  CheckTimeouts();
  for (Completion& c : done_) out.push_back(std::move(c));
  done_.clear();
}

}  // namespace spate::cql
