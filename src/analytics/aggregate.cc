#include "analytics/aggregate.h"

namespace spate {}  // namespace spate
