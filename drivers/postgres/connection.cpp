#include "drivers/postgres/connection.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <random>

#include "drivers/postgres/sql.hpp"

namespace backfill::pg {
namespace {

// Large enough that a chunk goes out in few syscalls, small enough not to double a chunk's
// memory in libpq's buffer.
constexpr std::size_t kCopySendPiece = 1 << 18;

std::string trim_message(const char* m) {
  std::string s = m ? m : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::int64_t PgResult::int64(int row, int col) const {
  std::int64_t v = 0;
  const char* s = PQgetvalue(r_.get(), row, col);
  std::from_chars(s, s + std::strlen(s), v);
  return v;
}

std::int64_t PgResult::affected() const {
  const char* s = r_ ? PQcmdTuples(r_.get()) : "";
  std::int64_t v = 0;
  std::from_chars(s, s + std::strlen(s), v);
  return v;
}

ErrorKind classify_sqlstate(std::string_view s) {
  if (s.size() != 5) return ErrorKind::kFailed;
  if (s.starts_with("08")) return ErrorKind::kTransient;                           // connection
  if (s == "57P01" || s == "57P02" || s == "57P03") return ErrorKind::kTransient;  // shutdown
  if (s == "40001" || s == "40P01") return ErrorKind::kTransient;  // serialization, deadlock
  if (s == "55P03") return ErrorKind::kTransient;                  // lock_not_available
  if (s.starts_with("53")) return ErrorKind::kTransient;           // out of resources
  if (s == "57014") return ErrorKind::kTimeout;                    // statement timeout
  if (s == "23505") return ErrorKind::kConflict;                   // unique_violation
  return ErrorKind::kFailed;
}

Status refuse_writing_sql(PgConnection& conn, const std::string& select, const std::string& what) {
  BACKFILL_RETURN_IF_ERROR(conn.exec("BEGIN READ ONLY"));
  // A trial that runs long (an expensive expression) passes: it is a check, not the run.
  Status st = conn.exec("SET LOCAL statement_timeout = " + std::to_string(kWriteTrialTimeoutMs));
  if (st.is_ok()) st = conn.exec(select);
  BACKFILL_RETURN_IF_ERROR(conn.exec("ROLLBACK"));
  if (st.sqlstate() == "25006") {  // read_only_sql_transaction
    return Status::invalid(what +
                           " writes to the database, and may only compute values: " + st.message());
  }
  return Status::ok();
}

Status refuse_transaction_pooling(const std::string& dsn, const std::string& option) {
  SessionSettings settings;
  settings.application_name = "backfill preflight";
  auto first = PgConnection::connect(dsn, settings, true);
  if (!first.ok()) return first.status().with_context(option);
  std::random_device random;
  const std::string tag = std::to_string(random()) + "-" + std::to_string(random());
  BACKFILL_RETURN_IF_ERROR((*first)
                               ->exec("SELECT set_config('backfill.pool_probe', $1, false)", {tag})
                               .with_context(option));
  auto second = PgConnection::connect(dsn, settings, true);
  if (!second.ok()) return second.status().with_context(option);
  auto seen = (*second)->query("SELECT coalesce(current_setting('backfill.pool_probe', true), '')");
  if (!seen.ok()) return Status::invalid(option + ": " + seen.status().message());
  if (seen->text(0, 0) == tag) {
    // The server connections go back to the application's pool: take backfill's settings
    // (the probe's and those every session starts with) off them first.
    (void)(*second)->exec("RESET ALL");
    (void)(*first)->exec("RESET ALL");
    return Status::invalid(
        option + ": " + describe_dsn(dsn) +
        " leads through a connection pooler in transaction or statement mode (a setting of one "
        "session was seen by another): backfill's per-session settings (lock_timeout, "
        "statement_timeout, the pinned date and number formats) and prepared statements would "
        "not stay with its sessions. Connect to PostgreSQL directly, or through a pool in "
        "session mode (PgBouncer: pool_mode = session)");
  }
  return Status::ok();
}

Status check_dsn(const std::string& dsn) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
  if (opts == nullptr) {
    std::string msg = err ? trim_message(err) : "out of memory";
    if (err) PQfreemem(err);
    return Status::invalid("malformed connection string: " + msg);
  }
  PQconninfoFree(opts);
  return Status::ok();
}

std::string describe_dsn(const std::string& dsn) {
  PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), nullptr);
  if (opts == nullptr) return "(malformed connection string)";
  std::string out;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || o->val[0] == '\0') continue;
    std::string_view k = o->keyword;
    if (k == "host" || k == "hostaddr" || k == "port" || k == "dbname" || k == "user") {
      if (!out.empty()) out += ' ';
      out += std::string(k) + "=" + o->val;
    }
  }
  PQconninfoFree(opts);
  return out.empty() ? "(defaults from PG* variables)" : out;
}

Result<std::unique_ptr<PgConnection>> PgConnection::connect(const std::string& dsn,
                                                            const SessionSettings& settings,
                                                            bool preflight) {
  BACKFILL_RETURN_IF_ERROR(check_dsn(dsn));
  std::unique_ptr<PgConnection> c(new PgConnection(dsn, settings));
  BACKFILL_RETURN_IF_ERROR(c->open(preflight));
  return c;
}

PgConnection::~PgConnection() {
  if (conn_ && !return_to_pool()) PQfinish(conn_);
}

SessionPool::~SessionPool() {
  for (auto& [key, session] : idle_) PQfinish(session.conn);
}

std::optional<SessionPool::Idle> SessionPool::take(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = idle_.find(key);
  if (it == idle_.end()) return std::nullopt;
  Idle session = std::move(it->second);
  idle_.erase(it);
  ++reused_;
  return session;
}

void SessionPool::give(const std::string& key, Idle session) {
  std::lock_guard lock(mu_);
  idle_.emplace(key, std::move(session));
}

std::int64_t SessionPool::reused() const {
  std::lock_guard lock(mu_);
  return reused_;
}

std::string PgConnection::pool_key() const {
  return dsn_ + '\n' + settings_.application_name + '\n' + setup_sql();
}

bool PgConnection::return_to_pool() {
  if (!settings_.pool || !healthy() || PQtransactionStatus(conn_) != PQTRANS_IDLE) return false;
  // Reset when it is taken again (open()), where the reset's round trip also tells that
  // the session is still alive.
  settings_.pool->give(pool_key(), {conn_, std::move(prepared_), std::move(constants_)});
  conn_ = nullptr;
  return true;
}

std::string PgConnection::setup_sql() const {
  return "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC';"
         " SET extra_float_digits = 3; SET standard_conforming_strings = on;"
         " SET client_encoding = 'UTF8'; SET bytea_output = 'hex';"
         // --jobs is our parallelism: a chunk query must not also take parallel workers from
         // the server's shared pool (and from the application).
         " SET max_parallel_workers_per_gather = 0;"
         " SET lock_timeout = " +
         std::to_string(settings_.lock_timeout_ms) +
         "; SET statement_timeout = " + std::to_string(settings_.statement_timeout_ms) +
         "; SET idle_in_transaction_session_timeout = " +
         std::to_string(settings_.idle_in_transaction_timeout_ms) +
         (settings_.replica_role ? "; SET session_replication_role = replica" : "");
}

Status PgConnection::open(bool preflight) {
  if (conn_) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
  prepared_.clear();
  constants_.clear();
  // A pooled session is reset to what a new one is: DISCARD ALL but its DEALLOCATE ALL and
  // DISCARD PLANS (and SET SESSION AUTHORIZATION DEFAULT: we never change it), then our
  // settings again, in one round trip (unlike DISCARD ALL, these may run in the implicit
  // transaction of a multi-statement string). It may have been cut while it waited (a
  // server restart, a proxy's idle limit): the reset failing tells, for far less than a new
  // session costs.
  while (settings_.pool) {
    std::optional<SessionPool::Idle> idle = settings_.pool->take(pool_key());
    if (!idle) break;
    const std::string reset =
        "SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL; DISCARD TEMP; "
        "DISCARD SEQUENCES; " +
        setup_sql();
    PGresult* r = PQexec(idle->conn, reset.c_str());
    const bool alive = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (alive) {
      conn_ = idle->conn;
      prepared_ = std::move(idle->prepared);
      constants_ = std::move(idle->constants);
      return Status::ok();
    }
    PQfinish(idle->conn);
  }
  // expand_dbname=1: the "dbname" value is the whole DSN. What it sets overrides the keys
  // before it, and the keys after it override the DSN: defaults come first, so the DSN's own
  // values win, and application_name (which the load probe tells backfill's sessions by)
  // last. The defaults let a network cut be noticed within about a minute, so that it is
  // waited out like a restart (--retry-for), not for the kernel's TCP timeout: keepalives
  // after 30 s idle, every 10 s, 3 lost; data unacknowledged for 60 s; a connect that takes
  // more than 10 s.
  const char* keys[] = {
      "connect_timeout",  "keepalives_idle", "keepalives_interval", "keepalives_count",
      "tcp_user_timeout", "dbname",          "application_name",    nullptr};
  std::string app = settings_.application_name;
  const char* vals[] = {"10", "30", "10", "3", "60000", dsn_.c_str(), app.c_str(), nullptr};
  conn_ = PQconnectdbParams(keys, vals, 1);
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    std::string msg = "cannot connect to " + describe_dsn(dsn_) + ": " +
                      trim_message(conn_ ? PQerrorMessage(conn_) : "out of memory");
    if (preflight) return Status::invalid(msg);
    // A server that asks for a password it did not get will not get one by waiting.
    if (conn_ != nullptr && PQconnectionNeedsPassword(conn_)) return Status::failed(msg);
    return Status::transient(msg, "08001");
  }
  const std::string setup = setup_sql();
  PGresult* r = PQexec(conn_, setup.c_str());
  Status st = PQresultStatus(r) == PGRES_COMMAND_OK ? Status::ok()
                                                    : error_from(r, "setting up the session");
  PQclear(r);
  if (!st.is_ok() && preflight) return Status::invalid(st.message());
  return st;
}

Status PgConnection::reconnect() { return open(false); }

Status PgConnection::transaction(const std::function<Status()>& body) {
  BACKFILL_RETURN_IF_ERROR(exec("BEGIN"));
  Status st = body();
  if (st.is_ok()) st = exec("COMMIT");
  if (!st.is_ok() && healthy()) (void)exec("ROLLBACK");
  return st;
}

PgResult::PgResult(PGresult* r) : r_(r, &PQclear) {}
int PgResult::rows() const { return r_ ? PQntuples(r_.get()) : 0; }
int PgResult::columns() const { return r_ ? PQnfields(r_.get()) : 0; }
bool PgResult::is_null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
std::string PgResult::text(int row, int col) const { return PQgetvalue(r_.get(), row, col); }

bool PgConnection::healthy() const { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }
int PgConnection::backend_pid() const { return conn_ ? PQbackendPID(conn_) : 0; }

int PgConnection::server_version() const { return conn_ ? PQserverVersion(conn_) : 0; }

std::string PgConnection::where() const { return describe_dsn(dsn_); }

Status PgConnection::error_from(PGresult* r, const std::string& what) const {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string msg = trim_message(r ? PQresultErrorMessage(r) : nullptr);
  if (msg.empty()) msg = trim_message(conn_ ? PQerrorMessage(conn_) : "no connection");
  std::string sqlstate = state ? state : "";
  ErrorKind kind = classify_sqlstate(sqlstate);
  // No SQLSTATE: libpq's own error, and a dead socket makes it a lost connection. A server
  // that closes the socket without an error (a crash, an immediate shutdown) leaves PQstatus
  // at CONNECTION_OK until libpq reads from it again, so read once.
  if (sqlstate.empty() && (!healthy() || PQconsumeInput(conn_) == 0 || !healthy())) {
    kind = ErrorKind::kTransient;
    sqlstate = "08006";
  }
  return Status(kind, what + ": " + msg, sqlstate);
}

namespace {

std::vector<const char*> param_values(const Params& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  return values;
}

}  // namespace

Result<PgResult> PgConnection::result_of(PGresult* r) const {
  const ExecStatusType s = PQresultStatus(r);
  if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) return PgResult(r);
  Status st = error_from(r, "query failed");
  PQclear(r);
  return st;
}

Result<PgResult> PgConnection::query_cached(const std::string& sql, const Params& params) {
  if (!healthy()) return Status::transient("connection to " + where() + " is lost", "08006");
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = "backfill_" + std::to_string(prepared_.size() + 1);
    BACKFILL_RETURN_IF_ERROR(result_of(PQprepare(conn_, name.c_str(), sql.c_str(),
                                                 static_cast<int>(params.size()), nullptr))
                                 .status());
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  const std::vector<const char*> values = param_values(params);
  return result_of(PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(params.size()),
                                  values.data(), nullptr, nullptr, 0));
}

Result<std::string> PgConnection::session_constant(const std::string& sql) {
  if (auto it = constants_.find(sql); it != constants_.end()) return it->second;
  BACKFILL_ASSIGN_OR_RETURN(PgResult r, query(sql));
  if (r.rows() != 1 || r.columns() != 1 || r.is_null(0, 0)) {
    return Status::failed("expected one value from: " + sql);
  }
  return constants_.emplace(sql, r.text(0, 0)).first->second;
}

Result<PgResult> PgConnection::query(const std::string& sql, const Params& params) {
  if (prefer_prepared_ && !params.empty()) return query_cached(sql, params);
  if (!healthy()) return Status::transient("connection to " + where() + " is lost", "08006");
  const std::vector<const char*> values = param_values(params);
  return result_of(PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                                values.data(), nullptr, nullptr, 0));
}

Status PgConnection::exec(const std::string& sql, const Params& params) {
  auto r = query(sql, params);
  return r.ok() ? Status::ok() : r.status();
}

Status PgConnection::start_copy(const std::string& sql, int expected, const char* what) {
  if (!healthy()) return Status::transient("connection to " + where() + " is lost", "08006");
  PGresult* r = PQexecParams(conn_, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0);
  Status st = PQresultStatus(r) == expected ? Status::ok() : error_from(r, what);
  PQclear(r);
  return st;
}

Status PgConnection::copy_out(const std::string& sql, std::string* out) {
  return copy_out_each(sql, [out](std::string_view message) {
    out->append(message);
    return Status::ok();
  });
}

Status PgConnection::copy_out_each(const std::string& sql,
                                   const std::function<Status(std::string_view)>& on_message) {
  BACKFILL_RETURN_IF_ERROR(start_copy(sql, PGRES_COPY_OUT, "COPY out failed"));
  Status consumer;
  while (true) {
    char* buf = nullptr;
    int n = PQgetCopyData(conn_, &buf, 0);
    if (n > 0) {
      if (consumer.is_ok()) consumer = on_message({buf, static_cast<std::size_t>(n)});
      PQfreemem(buf);
      continue;
    }
    break;  // -1: done, -2: error; either way the final result says which
  }
  Status st = consumer;
  while (PGresult* fin = PQgetResult(conn_)) {
    if (PQresultStatus(fin) != PGRES_COMMAND_OK && st.is_ok())
      st = error_from(fin, "COPY out failed");
    PQclear(fin);
  }
  if (st.is_ok() && !healthy()) st = Status::transient("connection lost during COPY out", "08006");
  return st;
}

Result<std::int64_t> PgConnection::copy_in(const std::string& sql, std::string_view data) {
  BACKFILL_RETURN_IF_ERROR(copy_in_begin(sql));
  if (Status st = copy_in_send(data); !st.is_ok()) {
    copy_in_abort(st.message());
    return st;
  }
  return copy_in_end();
}

Status PgConnection::copy_in_begin(const std::string& sql) {
  return start_copy(sql, PGRES_COPY_IN, "COPY in failed");
}

Status PgConnection::copy_in_send(std::string_view data) {
  for (std::size_t off = 0; off < data.size(); off += kCopySendPiece) {
    std::size_t n = std::min(kCopySendPiece, data.size() - off);
    if (PQputCopyData(conn_, data.data() + off, static_cast<int>(n)) != 1) {
      return Status::transient(
          "connection lost during COPY in: " + trim_message(PQerrorMessage(conn_)), "08006");
    }
  }
  return Status::ok();
}

Result<std::int64_t> PgConnection::copy_in_end() {
  bool sent = PQputCopyEnd(conn_, nullptr) == 1;
  Status st;
  std::int64_t rows = 0;
  while (PGresult* fin = PQgetResult(conn_)) {
    if (PQresultStatus(fin) == PGRES_COMMAND_OK) {
      rows = PgResult(fin).affected();
      continue;  // PgResult took ownership
    }
    if (st.is_ok()) st = error_from(fin, "COPY in failed");
    PQclear(fin);
  }
  if (st.is_ok() && !sent) st = Status::transient("connection lost during COPY in", "08006");
  if (!st.is_ok()) return st;
  return rows;
}

void PgConnection::copy_in_abort(const std::string& why) {
  // The server answers with an error that names `why`; it is drained, not reported.
  if (PQputCopyEnd(conn_, why.c_str()) == 1) {
    while (PGresult* fin = PQgetResult(conn_)) PQclear(fin);
  }
}

}  // namespace backfill::pg
