// One PostgreSQL connection, owned: with SessionPool below, the only type in the project
// that holds a PGconn.
//
// Every libpq call goes through here, and every libpq error comes out as a Status whose
// kind says what to do about it (retry a lost connection, a terminated backend, a lock
// timeout, a deadlock or a serialization failure; stop on anything else) with the SQLSTATE
// kept. Each session is pinned to the formats the engine relies on (ISO dates, UTC, exact
// floats, standard strings) and carries our lock and statement timeouts.
// Not thread-safe: one thread uses a connection at a time. Moves, never copies.
#pragma once

// libpq's handles, declared as libpq-fe.h declares them, so that this header (which cli/
// includes) does not bring libpq's API along; only drivers/postgres/*.cpp include it.
extern "C" {
typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
}

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/util/status.hpp"

namespace backfill::pg {

class SessionPool;

// Per-session limits, applied on connect and after every reconnect.
struct SessionSettings {
  std::string application_name = "backfill";
  // A chunk that waits longer than this for a lock gives up and is retried later, so a
  // backfill never sits in a lock queue in front of the application's queries.
  int lock_timeout_ms = 5000;
  // Bounds one chunk's statement; far above a healthy chunk's time (about a second).
  int statement_timeout_ms = 120000;
  // A session of ours idle inside a transaction is a bug or a hung client: end it.
  int idle_in_transaction_timeout_ms = 60000;
  // --disable-triggers: session_replication_role = replica, so that the target's triggers,
  // foreign-key checks included, do not fire for our writes (a set whose foreign keys form
  // a cycle).
  bool replica_role = false;
  // Where a closed session waits for the next one opened with the same DSN and settings
  // (the tables of a set); none: a session is closed with its connection.
  std::shared_ptr<SessionPool> pool;
};

// The statements a session has prepared (PgConnection::query_cached), by their SQL text.
using PreparedStatements = std::unordered_map<std::string, std::string>;
// Values that stay the same for a session's whole life (PgConnection::session_constant), by
// the SQL that read them.
using SessionConstants = std::unordered_map<std::string, std::string>;

// Idle sessions kept open for reuse: a set of tables opens a table's sessions (reader,
// writer, ledger, walker, probe, control) once, not once per table. A PostgreSQL session
// costs a backend fork and its catalog warm-up, measured at 25-35 ms on this project's
// 2-core machine, against about 1 ms to reset one. A session comes back only idle (no
// transaction, no COPY), waits as its last user left it (we take no session-level lock),
// and is reset when it is taken again to what a new one is but for the statements we
// prepared on it (open cursors closed, settings reset and ours applied again, temporary
// tables, sequence state and advisory locks dropped, LISTEN ended: DISCARD ALL without its
// DEALLOCATE ALL and DISCARD PLANS), so that nothing of one table's job (a staging temp
// table, a setting) leaks into the next, while the ledger's and the catalog's statements
// stay planned. Thread-safe; owns the idle sessions and closes them when destroyed.
class SessionPool {
 public:
  struct Idle {
    PGconn* conn = nullptr;
    PreparedStatements prepared;
    SessionConstants constants;
  };
  SessionPool() = default;
  ~SessionPool();
  SessionPool(const SessionPool&) = delete;
  SessionPool& operator=(const SessionPool&) = delete;
  // An idle session opened with `key` (its DSN and settings), or none: the caller's.
  std::optional<Idle> take(const std::string& key);
  // Keeps an idle session for the next take() of `key`, which resets it.
  void give(const std::string& key, Idle session);
  // Sessions opened through the pool's users, and sessions handed out again (for tests).
  std::int64_t reused() const;

 private:
  mutable std::mutex mu_;
  std::multimap<std::string, Idle> idle_;
  std::int64_t reused_ = 0;
};

class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* r);
  int rows() const;
  int columns() const;
  bool is_null(int row, int col) const;
  std::string text(int row, int col) const;
  std::optional<std::string> maybe(int row, int col) const {
    if (is_null(row, col)) return std::nullopt;
    return text(row, col);
  }
  std::int64_t int64(int row, int col) const;
  bool boolean(int row, int col) const { return text(row, col) == "t"; }
  // Rows affected, from the command tag ("INSERT 0 5" -> 5).
  std::int64_t affected() const;

 private:
  std::shared_ptr<PGresult> r_;
};

using Params = std::vector<std::optional<std::string>>;

class PgConnection {
 public:
  // Connects and pins the session. A DSN that does not parse, or a server that cannot be
  // reached or refuses us, is kInvalid when `preflight` (nothing has been written yet) and
  // kTransient otherwise.
  static Result<std::unique_ptr<PgConnection>> connect(const std::string& dsn,
                                                       const SessionSettings& settings,
                                                       bool preflight = false);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs SQL through the extended protocol: one statement only, parameters as text.
  Result<PgResult> query(const std::string& sql, const Params& params = {});
  // The same through a statement prepared once per session, its text the key: for a
  // constant statement run again and again (the catalog's reads, the ledger's), whose
  // planning costs more than its execution. Measured on a set of 100 small tables: parse
  // and plan took 2.7 s of the server's 5.2 s. Not for SQL that differs from call to call.
  Result<PgResult> query_cached(const std::string& sql, const Params& params = {});
  // Every query() with parameters goes through query_cached() (the ledger's session,
  // whose statements are all constant).
  void prefer_prepared() { prefer_prepared_ = true; }
  // The one value of `sql` (one row, one column, no parameters), read once per session and
  // kept with it, pooled or not: for what only a new session can change (its backend's start
  // time, its database's identity). A set of 500 tables asked these 2,000 times.
  Result<std::string> session_constant(const std::string& sql);
  Status exec(const std::string& sql, const Params& params = {});
  // Appends the output of a `COPY ... TO STDOUT` to `out`.
  Status copy_out(const std::string& sql, std::string* out);
  // COPY ... TO STDOUT, each CopyData message handed to `on_message` as it arrives (the
  // server cuts them at row boundaries). After an error from on_message the rest of the
  // stream is drained unread and that error returned.
  Status copy_out_each(const std::string& sql,
                       const std::function<Status(std::string_view)>& on_message);
  // Sends `data` to a `COPY ... FROM STDIN`; returns the rows copied.
  Result<std::int64_t> copy_in(const std::string& sql, std::string_view data);
  // The same in steps, for data that arrives while it is sent: copy_in_begin(), then
  // copy_in_send() any number of times, then copy_in_end() for the rows copied, or
  // copy_in_abort() to end the COPY with an error (the transaction is then aborted).
  Status copy_in_begin(const std::string& sql);
  Status copy_in_send(std::string_view data);
  Result<std::int64_t> copy_in_end();
  void copy_in_abort(const std::string& why);
  // BEGIN, `body`, COMMIT; ROLLBACK instead when the body or the commit fails (the body's
  // error is returned).
  Status transaction(const std::function<Status()>& body);
  // Drops the connection and opens it again with the same settings.
  Status reconnect();
  int server_version() const;  // PQserverVersion: 150020 for 15.20
  bool healthy() const;
  int backend_pid() const;
  // Server and database as text, without the password: for messages.
  std::string where() const;

 private:
  PgConnection(std::string dsn, SessionSettings settings)
      : dsn_(std::move(dsn)), settings_(std::move(settings)) {}
  Status open(bool preflight);
  // The SET statements that pin a new session.
  std::string setup_sql() const;
  // The pool's key for this session: its DSN and every setting setup_sql() applies.
  std::string pool_key() const;
  // Hands the session to the pool when it is idle and resets cleanly; false: close it.
  bool return_to_pool();
  Status error_from(PGresult* r, const std::string& what) const;
  // A statement's result, or its error (the result then freed).
  Result<PgResult> result_of(PGresult* r) const;
  // Sends a COPY statement and checks the server entered the `expected` copy state.
  Status start_copy(const std::string& sql, int expected, const char* what);

  std::string dsn_;
  SessionSettings settings_;
  PGconn* conn_ = nullptr;
  PreparedStatements prepared_;  // on conn_'s session
  SessionConstants constants_;   // of conn_'s session
  bool prefer_prepared_ = false;
};

// Checks that `dsn` parses as a connection string or URI; kInvalid naming the problem if
// not. The password, if any, never appears in the message.
Status check_dsn(const std::string& dsn);
// The DSN's host, port, database and user, for messages: never the password.
std::string describe_dsn(const std::string& dsn);
// The error kind for a SQLSTATE: what the engine does about it.
ErrorKind classify_sqlstate(std::string_view sqlstate);

// The user's SQL (--where, --set) run over a few rows by `select`, in a read-only
// transaction that is rolled back: kInvalid naming `what` when it tried to write (a function
// that inserts, nextval()). Any other error is the run's to meet, as it would have been.
Status refuse_writing_sql(PgConnection& conn, const std::string& select, const std::string& what);
// The rows it is tried on, the first of the table whatever the --where keeps (so that a
// selective condition without an index does not read the whole table): enough to reach a
// write that most rows make. And the trial's statement timeout: preflight is not the run.
inline constexpr int kWriteTrialRows = 100;
inline constexpr int kWriteTrialTimeoutMs = 5000;

// kInvalid when `dsn` leads through a pooler that hands a session's server connection to
// other clients between transactions (PgBouncer's transaction and statement modes): a
// backfill session's settings (lock_timeout, statement_timeout, the pinned formats) and its
// prepared statements would leak into other clients' transactions and be lost from its own.
// Found by setting a value in one session and reading it from a second, which such a pooler
// runs on the server connection the first just gave back. `option` names the DSN in the
// message; a connection that fails is kInvalid too (this is preflight).
Status refuse_transaction_pooling(const std::string& dsn, const std::string& option);

}  // namespace backfill::pg
