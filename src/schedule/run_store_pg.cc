// The run history in PostgreSQL (see run_store.h). (issue 20: being written)
#include "schedule/run_store.h"

namespace spate {

Result<std::unique_ptr<RunStore>> OpenPostgresRunStore(const std::string& /*dsn*/,
                                                       int64_t /*timeout_ms*/) {
  return Status::Fatal("the PostgreSQL run history is not written yet");
}

}  // namespace spate
