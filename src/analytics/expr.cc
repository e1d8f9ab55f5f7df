#include "analytics/expr.h"

namespace spate {}  // namespace spate
