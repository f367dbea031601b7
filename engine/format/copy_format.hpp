// PostgreSQL's binary COPY format: a reader that walks a stream without copying it, and a
// writer that builds one.
//
// A stream is an 11-byte signature, a 32-bit flags word, a header extension, then tuples
// (a 16-bit field count, and per field a 32-bit length, -1 for NULL, and that many bytes)
// and a trailer (a field count of -1). All integers are big-endian.
//
// Rows travel through the engine in this form from end to end: a chunk read from the
// source is one CopyBatch, and a field a transform does not touch is never decoded.
// CopyReader borrows the bytes it walks (the caller keeps them alive); CopyWriter owns what
// it builds. Neither is thread-safe; each chunk gets its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/util/status.hpp"

namespace backfill {

inline constexpr std::string_view kCopySignature{"PGCOPY\n\377\r\n\0", 11};
// Signature, flags and the length of an empty header extension.
inline constexpr std::size_t kCopyHeaderSize = kCopySignature.size() + 4 + 4;
inline constexpr std::size_t kCopyTrailerSize = 2;
// The header of every stream the engine writes (no flags, no extension) and the trailer
// (a field count of -1) that ends every stream.
inline constexpr std::string_view kCopyHeader{"PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0",
                                              kCopyHeaderSize};
inline constexpr std::string_view kCopyTrailer{"\377\377", kCopyTrailerSize};

// One chunk's rows as a complete binary COPY stream (header, tuples, trailer).
struct CopyBatch {
  std::string bytes;
  std::int64_t rows = 0;
};

// A field of a tuple: its bytes, or nullopt for NULL. Points into the stream.
using CopyField = std::optional<std::string_view>;

class CopyReader {
 public:
  explicit CopyReader(std::string_view stream) : data_(stream) {}
  // A reader over a piece of a stream whose header came in an earlier piece: one CopyData
  // message of a COPY TO, which PostgreSQL always cuts at row boundaries.
  static CopyReader continuing(std::string_view piece) {
    CopyReader r(piece);
    r.header_read_ = true;
    return r;
  }

  // Checks the signature and skips the header. Must be called first.
  Status read_header();
  // Reads the next tuple into `fields`. Returns true for a tuple, false at the trailer;
  // an error for truncated or corrupt input.
  Result<bool> next(std::vector<CopyField>* fields);
  // The raw bytes of the last tuple read by next(), field count included.
  std::string_view last_tuple() const { return last_tuple_; }
  // True once the trailer was read and nothing follows it.
  bool at_end() const { return done_ && pos_ == data_.size(); }
  // True once the trailer was read.
  bool done() const { return done_; }
  // True when every byte was read (the end of a piece; next() would report truncation).
  bool exhausted() const { return pos_ == data_.size(); }
  std::size_t position() const { return pos_; }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
  bool header_read_ = false;
  bool done_ = false;
  int fields_per_tuple_ = -1;  // the first tuple's, which every other must have
  std::string_view last_tuple_;
};

// Validates a whole stream's framing and counts its tuples.
Result<std::int64_t> count_copy_rows(std::string_view stream);
// The same for tuples alone (a piece of a stream: no header, no trailer).
Result<std::int64_t> count_copy_tuples(std::string_view tuples);
// The bytes of a whole stream between its header and its trailer, both checked.
Result<std::string_view> copy_stream_tuples(std::string_view stream);

class CopyWriter {
 public:
  CopyWriter();  // writes the header
  // A writer of tuples alone, for a piece of a stream: no header, and take_tuples() instead
  // of finish().
  struct TuplesOnly {};
  explicit CopyWriter(TuplesOnly) {}
  explicit CopyWriter(TuplesOnly, std::string buffer);  // reuses the buffer's capacity
  void begin_tuple(std::int16_t fields);
  void add_field(const CopyField& field);
  void add_null();
  void add_bytes(std::string_view bytes);
  // A field written in place: begin_field() reserves its length word and returns the
  // stream to append the bytes to; end_field() fills the length in.
  std::string* begin_field();
  void end_field();
  // Appends an already framed tuple (as CopyReader::last_tuple() returns it).
  void add_raw_tuple(std::string_view tuple);
  // Writes the trailer and hands the stream over; the writer is spent afterwards.
  CopyBatch finish();
  // Hands the tuples over without a trailer; the writer is spent afterwards.
  std::string take_tuples();
  std::int64_t rows() const { return rows_; }
  std::size_t size() const { return out_.size(); }
  void reserve(std::size_t n) { out_.reserve(n); }

 private:
  std::string out_;
  std::int64_t rows_ = 0;
  std::size_t field_start_ = 0;
};

// Big-endian helpers for the binary forms of fields.
void put_be16(std::string* out, std::int16_t v);
void put_be32(std::string* out, std::int32_t v);
void put_be64(std::string* out, std::int64_t v);
std::int16_t get_be16(const char* p);
std::int32_t get_be32(const char* p);
std::int64_t get_be64(const char* p);

}  // namespace backfill
