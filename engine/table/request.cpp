#include "engine/table/request.hpp"

namespace backfill {

const char* policy_name(ConflictPolicy p) {
  switch (p) {
    case ConflictPolicy::kError:
      return "error";
    case ConflictPolicy::kSkip:
      return "skip";
    case ConflictPolicy::kOverwrite:
      return "overwrite";
    case ConflictPolicy::kNewer:
      return "newer";
  }
  return "?";
}

}  // namespace backfill
