// The transform stage: what happens to a chunk's rows between reading and writing.
//
// A Transform turns tuples of a binary COPY stream (a piece of a chunk: whole rows, no
// header, no trailer) into the tuples to write. It runs in the CPU stage, on several pieces
// at once, so apply_tuples() must be thread-safe (implementations hold no mutable state).
// Fields a transform does not touch are copied as bytes, never decoded.
#pragma once

#include <memory>
#include <vector>

#include "engine/format/copy_format.hpp"
#include "engine/format/value_codec.hpp"
#include "engine/transform/expr.hpp"
#include "engine/util/status.hpp"

namespace backfill {

class Transform {
 public:
  virtual ~Transform() = default;
  // Writes the transformed `tuples` to `out` (whose capacity it may reuse; its old content
  // is dropped) and returns the rows read. When passes_bytes(), `out` is left alone: the
  // rows to write are `tuples` themselves.
  virtual Result<std::int64_t> apply_tuples(std::string_view tuples, std::string* out) const = 0;
  virtual bool passes_bytes() const { return false; }
  // A whole stream (header, tuples, trailer) in, the stream to write out, `rows` counted.
  Result<CopyBatch> apply(CopyBatch in) const;
};

// Rows pass unchanged: their framing is checked and they are counted, and the bytes are
// handed on without a copy. What copy uses when every column is read as the target wants
// it (renames and casts happen in the source's SELECT).
class IdentityTransform final : public Transform {
 public:
  Result<std::int64_t> apply_tuples(std::string_view tuples, std::string* out) const override;
  bool passes_bytes() const override { return true; }
};

// Output field i is input field fields[i], copied as bytes: reorders, drops or repeats
// fields without decoding any.
class FieldSelectTransform final : public Transform {
 public:
  explicit FieldSelectTransform(std::vector<int> fields) : fields_(std::move(fields)) {}
  Result<std::int64_t> apply_tuples(std::string_view tuples, std::string* out) const override;

 private:
  std::vector<int> fields_;
};

// What a --map job computes: each output field passed through from the read or computed
// by an expression, and which read fields the expressions decode.
struct MapOutput {
  std::string column;                // the target column, for messages
  int field = -1;                    // >= 0: this read field, copied as bytes
  std::shared_ptr<const Expr> expr;  // otherwise: computed, then encoded as below
  FieldCodec codec = FieldCodec::kText;
  // The column's type modifier where the server would apply it on storing: numeric(p,s)'s
  // s (rounded to), character(n)'s n (padded to); -1 for none.
  int modifier = -1;

  // An output that is read field `field`, as bytes.
  static MapOutput pass_through(std::string column, int field) {
    MapOutput o;
    o.column = std::move(column);
    o.field = field;
    return o;
  }
};

// A key column among the read fields: a --map's error names the row by it.
struct MapKeyField {
  std::string column;
  int field = 0;  // among the plan's fields (after any leading ones)
  FieldCodec codec;
};

struct MapPlan {
  std::vector<MapOutput> outputs;
  std::vector<int> input_fields;  // expression input slot -> read field
  std::vector<FieldCodec> input_codecs;
  std::vector<std::string> input_columns;  // the column each input slot reads
  std::vector<MapKeyField> key;            // the row's key, where the read has it
  CallContext context;
};

// Applies a MapPlan to every row: only the fields the expressions read are decoded, and
// pass-through fields stay bytes. `leading` fields before the plan's (key texts a verify
// reads first) pass unchanged.
class MapTransform final : public Transform {
 public:
  explicit MapTransform(std::shared_ptr<const MapPlan> plan, int leading = 0)
      : plan_(std::move(plan)), leading_(leading) {}
  Result<std::int64_t> apply_tuples(std::string_view tuples, std::string* out) const override;

 private:
  std::shared_ptr<const MapPlan> plan_;
  int leading_;
};

}  // namespace backfill
