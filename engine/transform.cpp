#include "engine/transform.hpp"

#include <string>

namespace backfill {

Result<CopyBatch> IdentityTransform::apply(CopyBatch in) const {
  BACKFILL_ASSIGN_OR_RETURN(in.rows, count_copy_rows(in.bytes));
  return in;
}

Result<CopyBatch> FieldSelectTransform::apply(CopyBatch in) const {
  CopyReader reader(in.bytes);
  BACKFILL_RETURN_IF_ERROR(reader.read_header());
  CopyWriter writer;
  writer.reserve(in.bytes.size());
  std::vector<CopyField> fields;
  while (true) {
    BACKFILL_ASSIGN_OR_RETURN(bool more, reader.next(&fields));
    if (!more) break;
    writer.begin_tuple(static_cast<std::int16_t>(fields_.size()));
    for (int f : fields_) {
      if (f < 0 || static_cast<std::size_t>(f) >= fields.size()) {
        return Status::failed("transform reads field " + std::to_string(f) + " of a row with " +
                              std::to_string(fields.size()) + " fields");
      }
      writer.add_field(fields[static_cast<std::size_t>(f)]);
    }
  }
  return writer.finish();
}

}  // namespace backfill
