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

Result<CopyBatch> MapTransform::apply(CopyBatch in) const {
  const MapPlan& plan = *plan_;
  CopyReader reader(in.bytes);
  BACKFILL_RETURN_IF_ERROR(reader.read_header());
  CopyWriter writer;
  writer.reserve(in.bytes.size() + in.bytes.size() / 8);
  std::vector<CopyField> fields;
  // Kept from row to row: decoded inputs, results and the expressions' argument values all
  // reuse their buffers, so a row allocates nothing once the first rows have passed.
  std::vector<Value> inputs(plan.input_fields.size());
  std::vector<EvalScratch> scratch(plan.outputs.size());
  Value result;
  const auto lead = static_cast<std::size_t>(leading_);
  const auto width = static_cast<std::int16_t>(lead + plan.outputs.size());
  while (true) {
    BACKFILL_ASSIGN_OR_RETURN(bool more, reader.next(&fields));
    if (!more) break;
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      const std::size_t f = lead + static_cast<std::size_t>(plan.input_fields[k]);
      if (f >= fields.size()) return Status::failed("a --map input is missing from the row read");
      if (!fields[f]) {
        inputs[k].type = ValueType::kNull;
        continue;
      }
      BACKFILL_RETURN_IF_ERROR(decode_field_into(plan.input_codecs[k], *fields[f], &inputs[k]));
    }
    writer.begin_tuple(width);
    for (std::size_t i = 0; i < lead; ++i) writer.add_field(fields[i]);
    for (std::size_t o = 0; o < plan.outputs.size(); ++o) {
      const MapOutput& out = plan.outputs[o];
      if (out.field >= 0) {
        writer.add_field(fields[lead + static_cast<std::size_t>(out.field)]);
        continue;
      }
      Status st = out.expr->eval(inputs, plan.context, &scratch[o], &result);
      if (st.is_ok() && result.is_null()) {
        writer.add_null();
        continue;
      }
      if (st.is_ok()) {
        st = encode_field(out.codec, out.modifier, result, writer.begin_field());
        writer.end_field();
      }
      if (!st.is_ok()) {
        return Status::failed("--map \"" + out.column + " = " + out.expr->text() +
                              "\": " + st.message());
      }
    }
  }
  return writer.finish();
}

}  // namespace backfill
