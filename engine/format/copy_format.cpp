#include "engine/format/copy_format.hpp"

#include <cstring>

namespace backfill {

void put_be16(std::string* out, std::int16_t v) {
  auto u = static_cast<std::uint16_t>(v);
  char b[2] = {static_cast<char>(u >> 8), static_cast<char>(u)};
  out->append(b, 2);
}

void put_be32(std::string* out, std::int32_t v) {
  auto u = static_cast<std::uint32_t>(v);
  char b[4] = {static_cast<char>(u >> 24), static_cast<char>(u >> 16), static_cast<char>(u >> 8),
               static_cast<char>(u)};
  out->append(b, 4);
}

void put_be64(std::string* out, std::int64_t v) {
  auto u = static_cast<std::uint64_t>(v);
  put_be32(out, static_cast<std::int32_t>(u >> 32));
  put_be32(out, static_cast<std::int32_t>(u & 0xffffffffu));
}

std::int16_t get_be16(const char* p) {
  auto b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<std::int16_t>(static_cast<std::uint16_t>((b[0] << 8) | b[1]));
}

std::int32_t get_be32(const char* p) {
  auto b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<std::int32_t>((std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                                   (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]});
}

std::int64_t get_be64(const char* p) {
  auto hi = static_cast<std::uint32_t>(get_be32(p));
  auto lo = static_cast<std::uint32_t>(get_be32(p + 4));
  return static_cast<std::int64_t>((std::uint64_t{hi} << 32) | lo);
}

Status CopyReader::read_header() {
  if (data_.size() < kCopyHeaderSize) {
    return Status::failed("binary COPY stream truncated in its header (" +
                          std::to_string(data_.size()) + " bytes)");
  }
  if (data_.substr(0, kCopySignature.size()) != kCopySignature) {
    return Status::failed("binary COPY stream has no PGCOPY signature");
  }
  std::int32_t flags = get_be32(data_.data() + kCopySignature.size());
  // Bit 16 means OIDs are included; servers since 12 never send them and we never ask.
  if ((flags & (1 << 16)) != 0) {
    return Status::failed("binary COPY stream carries OIDs, which are not supported");
  }
  std::int32_t ext = get_be32(data_.data() + kCopySignature.size() + 4);
  if (ext < 0 || data_.size() < kCopyHeaderSize + static_cast<std::size_t>(ext)) {
    return Status::failed("binary COPY stream has a bad header extension length");
  }
  pos_ = kCopyHeaderSize + static_cast<std::size_t>(ext);
  header_read_ = true;
  return Status::ok();
}

Result<bool> CopyReader::next(std::vector<CopyField>* fields) {
  if (!header_read_) return Status::failed("binary COPY header not read");
  if (done_) return false;
  const std::size_t start = pos_;
  if (data_.size() - pos_ < 2) {
    return Status::failed("binary COPY stream truncated at byte " + std::to_string(pos_) +
                          ": no trailer");
  }
  std::int16_t n = get_be16(data_.data() + pos_);
  pos_ += 2;
  if (n == -1) {
    done_ = true;
    if (pos_ != data_.size()) {
      return Status::failed("binary COPY stream has " + std::to_string(data_.size() - pos_) +
                            " bytes after its trailer");
    }
    return false;
  }
  if (n < 0) {
    return Status::failed("binary COPY tuple at byte " + std::to_string(start) +
                          " has a negative field count " + std::to_string(n));
  }
  // Every tuple of a stream has the same fields, as count_copy_rows() checks too (they
  // disagreed on a stream whose tuples did not: found by copy_reader_fuzz).
  if (fields_per_tuple_ >= 0 && n != fields_per_tuple_) {
    return Status::failed("binary COPY tuple at byte " + std::to_string(start) + " has " +
                          std::to_string(n) + " fields, the first had " +
                          std::to_string(fields_per_tuple_));
  }
  fields_per_tuple_ = n;
  fields->clear();
  for (std::int16_t i = 0; i < n; ++i) {
    if (data_.size() - pos_ < 4) {
      return Status::failed("binary COPY stream truncated in field " + std::to_string(i) +
                            " of the tuple at byte " + std::to_string(start));
    }
    std::int32_t len = get_be32(data_.data() + pos_);
    pos_ += 4;
    if (len == -1) {
      fields->emplace_back(std::nullopt);
      continue;
    }
    if (len < 0 || data_.size() - pos_ < static_cast<std::size_t>(len)) {
      return Status::failed("binary COPY field " + std::to_string(i) + " of the tuple at byte " +
                            std::to_string(start) + " has a bad length " + std::to_string(len));
    }
    fields->emplace_back(data_.substr(pos_, static_cast<std::size_t>(len)));
    pos_ += static_cast<std::size_t>(len);
  }
  last_tuple_ = data_.substr(start, pos_ - start);
  return true;
}

namespace {

// Walks tuples from `pos` to the trailer (`trailer`) or to the end of the bytes (a piece):
// the field values are never needed here, only their lengths. Returns the tuples counted
// and leaves `pos` after the last byte read.
Result<std::int64_t> walk_tuples(std::string_view bytes, std::size_t* pos_io, bool trailer) {
  std::size_t pos = *pos_io;
  std::int64_t rows = 0;
  const char* d = bytes.data();
  const std::size_t size = bytes.size();
  int expected_fields = -1;
  while (true) {
    if (!trailer && pos == size) break;
    if (size - pos < 2) return Status::failed("binary COPY stream truncated: no trailer");
    std::int16_t n = get_be16(d + pos);
    pos += 2;
    if (n == -1) {
      if (!trailer) return Status::failed("binary COPY trailer in the middle of the rows");
      break;
    }
    if (n < 0) return Status::failed("binary COPY tuple has a negative field count");
    if (expected_fields >= 0 && n != expected_fields) {
      return Status::failed("binary COPY tuple " + std::to_string(rows) + " has " +
                            std::to_string(n) + " fields, the first had " +
                            std::to_string(expected_fields));
    }
    expected_fields = n;
    for (std::int16_t i = 0; i < n; ++i) {
      if (size - pos < 4) return Status::failed("binary COPY stream truncated inside a tuple");
      std::int32_t len = get_be32(d + pos);
      pos += 4;
      if (len == -1) continue;
      if (len < 0 || size - pos < static_cast<std::size_t>(len)) {
        return Status::failed("binary COPY field has a bad length " + std::to_string(len));
      }
      pos += static_cast<std::size_t>(len);
    }
    ++rows;
  }
  *pos_io = pos;
  return rows;
}

}  // namespace

Result<std::int64_t> count_copy_rows(std::string_view stream) {
  CopyReader reader(stream);
  BACKFILL_RETURN_IF_ERROR(reader.read_header());
  std::size_t pos = reader.position();
  BACKFILL_ASSIGN_OR_RETURN(std::int64_t rows, walk_tuples(stream, &pos, true));
  if (pos != stream.size()) return Status::failed("binary COPY stream has bytes after its trailer");
  return rows;
}

Result<std::int64_t> count_copy_tuples(std::string_view tuples) {
  std::size_t pos = 0;
  return walk_tuples(tuples, &pos, false);
}

Result<std::string_view> copy_stream_tuples(std::string_view stream) {
  CopyReader reader(stream);
  BACKFILL_RETURN_IF_ERROR(reader.read_header());
  const std::size_t start = reader.position();
  if (stream.size() - start < kCopyTrailerSize ||
      stream.substr(stream.size() - kCopyTrailerSize) != kCopyTrailer) {
    return Status::failed("binary COPY stream truncated: no trailer");
  }
  return stream.substr(start, stream.size() - start - kCopyTrailerSize);
}

CopyWriter::CopyWriter() { out_.append(kCopyHeader); }

CopyWriter::CopyWriter(TuplesOnly, std::string buffer) : out_(std::move(buffer)) { out_.clear(); }

void CopyWriter::begin_tuple(std::int16_t fields) {
  put_be16(&out_, fields);
  ++rows_;
}

void CopyWriter::add_field(const CopyField& field) {
  if (field) {
    add_bytes(*field);
  } else {
    add_null();
  }
}

void CopyWriter::add_null() { put_be32(&out_, -1); }

void CopyWriter::add_bytes(std::string_view bytes) {
  put_be32(&out_, static_cast<std::int32_t>(bytes.size()));
  out_.append(bytes);
}

std::string* CopyWriter::begin_field() {
  field_start_ = out_.size();
  out_.append(4, '\0');
  return &out_;
}

void CopyWriter::end_field() {
  const auto len = static_cast<std::uint32_t>(out_.size() - field_start_ - 4);
  out_[field_start_] = static_cast<char>(len >> 24);
  out_[field_start_ + 1] = static_cast<char>(len >> 16);
  out_[field_start_ + 2] = static_cast<char>(len >> 8);
  out_[field_start_ + 3] = static_cast<char>(len);
}

void CopyWriter::add_raw_tuple(std::string_view tuple) {
  out_.append(tuple);
  ++rows_;
}

std::string CopyWriter::take_tuples() {
  std::string out = std::move(out_);
  out_.clear();
  rows_ = 0;
  return out;
}

CopyBatch CopyWriter::finish() {
  put_be16(&out_, -1);
  CopyBatch batch{std::move(out_), rows_};
  out_.clear();
  rows_ = 0;
  return batch;
}

}  // namespace backfill
