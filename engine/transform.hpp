// The transform stage: what happens to a chunk's rows between reading and writing.
//
// A Transform takes one chunk's binary COPY stream and returns the stream to write. It
// runs in the CPU stage of the flow graph, on several chunks at once, so apply() must be
// thread-safe (implementations hold no mutable state). Fields a transform does not touch
// are copied as bytes, never decoded.
#pragma once

#include <memory>
#include <vector>

#include "engine/copy_format.hpp"
#include "engine/status.hpp"

namespace backfill {

class Transform {
 public:
  virtual ~Transform() = default;
  // Consumes `in`; returns the rows to write, with `rows` counted.
  virtual Result<CopyBatch> apply(CopyBatch in) const = 0;
};

// Rows pass unchanged: the stream's framing is checked and its rows counted, and the bytes
// are handed on without a copy. What copy uses when every column is read as the target
// wants it (renames and casts happen in the source's SELECT).
class IdentityTransform final : public Transform {
 public:
  Result<CopyBatch> apply(CopyBatch in) const override;
};

// Output field i is input field fields[i], copied as bytes: reorders, drops or repeats
// fields without decoding any.
class FieldSelectTransform final : public Transform {
 public:
  explicit FieldSelectTransform(std::vector<int> fields) : fields_(std::move(fields)) {}
  Result<CopyBatch> apply(CopyBatch in) const override;

 private:
  std::vector<int> fields_;
};

}  // namespace backfill
