#include "engine/transform/transform.hpp"

#include <string>

namespace backfill {
namespace {

// " (the row with key (id)=(42))": the row a --map failed on, as PostgreSQL names a row in
// its errors; "" where the read has no key.
std::string row_named(const MapPlan& plan, const std::vector<CopyField>& fields, std::size_t lead) {
  if (plan.key.empty()) return "";
  std::string names, values;
  Value v;
  for (std::size_t i = 0; i < plan.key.size(); ++i) {
    const MapKeyField& k = plan.key[i];
    const std::size_t f = lead + static_cast<std::size_t>(k.field);
    names += (i == 0 ? "" : ", ") + k.column;
    values += i == 0 ? "" : ", ";
    if (f >= fields.size() || !fields[f]) {
      values += "null";
    } else if (decode_field_into(k.codec, *fields[f], &v).is_ok()) {
      values += to_text(v);
    } else {
      values += "?";
    }
  }
  return " (the row with key (" + names + ")=(" + values + "))";
}

}  // namespace

Result<CopyBatch> Transform::apply(CopyBatch in) const {
  BACKFILL_ASSIGN_OR_RETURN(std::string_view tuples, copy_stream_tuples(in.bytes));
  std::string out;
  BACKFILL_ASSIGN_OR_RETURN(in.rows, apply_tuples(tuples, &out));
  if (passes_bytes()) return in;
  CopyBatch batch;
  batch.rows = in.rows;
  batch.bytes.reserve(kCopyHeaderSize + out.size() + kCopyTrailerSize);
  batch.bytes.append(kCopyHeader).append(out).append(kCopyTrailer);
  return batch;
}

Result<std::int64_t> IdentityTransform::apply_tuples(std::string_view tuples, std::string*) const {
  return count_copy_tuples(tuples);
}

Result<std::int64_t> FieldSelectTransform::apply_tuples(std::string_view tuples,
                                                        std::string* out) const {
  CopyReader reader = CopyReader::continuing(tuples);
  CopyWriter writer(CopyWriter::TuplesOnly{}, std::move(*out));
  writer.reserve(tuples.size());
  std::vector<CopyField> fields;
  while (!reader.exhausted()) {
    BACKFILL_ASSIGN_OR_RETURN(bool more, reader.next(&fields));
    if (!more) return Status::failed("binary COPY trailer in the middle of the rows");
    writer.begin_tuple(static_cast<std::int16_t>(fields_.size()));
    for (int f : fields_) {
      if (f < 0 || static_cast<std::size_t>(f) >= fields.size()) {
        return Status::failed("transform reads field " + std::to_string(f) + " of a row with " +
                              std::to_string(fields.size()) + " fields");
      }
      writer.add_field(fields[static_cast<std::size_t>(f)]);
    }
  }
  const std::int64_t rows = writer.rows();
  *out = writer.take_tuples();
  return rows;
}

Result<std::int64_t> MapTransform::apply_tuples(std::string_view tuples, std::string* dest) const {
  const MapPlan& plan = *plan_;
  CopyReader reader = CopyReader::continuing(tuples);
  CopyWriter writer(CopyWriter::TuplesOnly{}, std::move(*dest));
  writer.reserve(tuples.size() + tuples.size() / 8);
  std::vector<CopyField> fields;
  // Kept from row to row: decoded inputs, results and the expressions' argument values all
  // reuse their buffers, so a row allocates nothing once the first rows have passed.
  std::vector<Value> inputs(plan.input_fields.size());
  std::vector<EvalScratch> scratch(plan.outputs.size());
  Value result;
  const auto lead = static_cast<std::size_t>(leading_);
  const auto width = static_cast<std::int16_t>(lead + plan.outputs.size());
  while (!reader.exhausted()) {
    BACKFILL_ASSIGN_OR_RETURN(bool more, reader.next(&fields));
    if (!more) return Status::failed("binary COPY trailer in the middle of the rows");
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      const std::size_t f = lead + static_cast<std::size_t>(plan.input_fields[k]);
      if (f >= fields.size()) return Status::failed("a --map input is missing from the row read");
      if (!fields[f]) {
        inputs[k].type = ValueType::kNull;
        continue;
      }
      if (Status st = decode_field_into(plan.input_codecs[k], *fields[f], &inputs[k]);
          !st.is_ok()) {
        return Status::failed("--map input \"" + plan.input_columns[k] + "\": " + st.message() +
                              row_named(plan, fields, lead));
      }
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
                              "\": " + st.message() + row_named(plan, fields, lead));
      }
    }
  }
  const std::int64_t rows = writer.rows();
  *dest = writer.take_tuples();
  return rows;
}

}  // namespace backfill
