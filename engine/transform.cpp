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
  std::vector<Value> inputs(plan.input_fields.size());
  Value result;
  std::string encoded;
  const auto lead = static_cast<std::size_t>(leading_);
  const auto width = static_cast<std::int16_t>(lead + plan.outputs.size());
  while (true) {
    BACKFILL_ASSIGN_OR_RETURN(bool more, reader.next(&fields));
    if (!more) break;
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      const std::size_t f = lead + static_cast<std::size_t>(plan.input_fields[k]);
      if (f >= fields.size()) return Status::failed("a --map input is missing from the row read");
      if (!fields[f]) {
        inputs[k] = Value::null();
        continue;
      }
      auto v = decode_field(plan.input_codecs[k], *fields[f]);
      if (!v.ok()) return v.status();
      inputs[k] = std::move(v).value();
    }
    writer.begin_tuple(width);
    for (std::size_t i = 0; i < lead; ++i) writer.add_field(fields[i]);
    for (const MapOutput& o : plan.outputs) {
      if (o.field >= 0) {
        writer.add_field(fields[lead + static_cast<std::size_t>(o.field)]);
        continue;
      }
      Status st = o.expr->eval(inputs, plan.context, &result);
      if (st.is_ok() && !result.is_null()) {
        encoded.clear();
        st = encode_field(o.codec, o.numeric_scale, result, &encoded);
      }
      if (!st.is_ok()) {
        return Status::failed("--map \"" + o.column + " = " + o.expr->text() +
                              "\": " + st.message());
      }
      if (result.is_null()) {
        writer.add_null();
      } else {
        writer.add_bytes(encoded);
      }
    }
  }
  return writer.finish();
}

}  // namespace backfill
