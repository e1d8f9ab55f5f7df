#include "analytics/rules.h"

namespace spate {}  // namespace spate
