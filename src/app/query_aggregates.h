// The aggregation tables of a store (issue 19), read the same way for `spate query`, which
// prints them, and for the dashboard's /api/aggregates. Implemented in cmd_query.cc.
#pragma once

#include "config/config.h"
#include "http/dashboard_api.h"

namespace spate {

// The latest windows of each table, and the groups with the most users in each.
inline constexpr int kAggregateWindows = 3;
inline constexpr int kAggregateGroups = 10;

// A reader of the SQL stores `config` sinks to (sqlite, postgres) for the dashboard. It opens
// its connections when first called (the run may not have made the database yet) and keeps
// them: a read-only SQLite connection, a PostgreSQL one with the run's DSN (errors are
// redacted and never name it). Empty when no SQL store is configured. Of a hopping
// aggregation it reads enough windows (size/slide + 1) to hold a complete one.
AggregatesReader MakeStoreAggregatesReader(const Config& config);

}  // namespace spate
