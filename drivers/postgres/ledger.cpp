#include "drivers/postgres/ledger.hpp"

#include <unistd.h>

#include <algorithm>

#include "drivers/postgres/sql.hpp"
#include "engine/util/numbers.hpp"

namespace backfill::pg {

const char* ledger_schema_sql() {
  return R"SQL(CREATE SCHEMA IF NOT EXISTS backfill;
CREATE TABLE IF NOT EXISTS backfill.jobs (
  name           text PRIMARY KEY,
  command        text NOT NULL,
  fingerprint    text NOT NULL,
  description    text NOT NULL,
  status         text NOT NULL DEFAULT 'running',  -- running, done, failed, interrupted
  message        text,
  chunk_rows     bigint,
  estimated_rows bigint,
  plan_after     text[],                           -- upper key of the last planned chunk
  plan_done      boolean NOT NULL DEFAULT false,
  next_chunk     bigint NOT NULL DEFAULT 1,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS backfill.chunks (
  job          text NOT NULL REFERENCES backfill.jobs (name) ON DELETE CASCADE,
  id           bigint NOT NULL,
  lo           text[],                               -- exclusive; NULL: from the start
  hi           text[],                               -- inclusive; NULL: to the end
  status       text NOT NULL DEFAULT 'pending',      -- pending, running, done
  attempts     int NOT NULL DEFAULT 0,
  worker       text,
  worker_pid   int,
  worker_start timestamptz,
  lease_until  timestamptz,
  rows         bigint,
  rows_written bigint,
  started_at   timestamptz,
  finished_at  timestamptz,
  PRIMARY KEY (job, id)
);
CREATE INDEX IF NOT EXISTS chunks_open ON backfill.chunks (job, id) WHERE status <> 'done';
ALTER TABLE backfill.chunks
  ADD COLUMN IF NOT EXISTS rows_target bigint,      -- verify: rows read from the target
  ADD COLUMN IF NOT EXISTS missing bigint,
  ADD COLUMN IF NOT EXISTS extra bigint,
  ADD COLUMN IF NOT EXISTS different bigint,
  ADD COLUMN IF NOT EXISTS repaired bigint;
CREATE TABLE IF NOT EXISTS backfill.differences (  -- verify: the rows listed per chunk
  job      text NOT NULL,
  chunk    bigint NOT NULL,
  ord      int NOT NULL,                            -- key order within the chunk
  key      text[] NOT NULL,
  kind     text NOT NULL,                           -- missing, extra, different
  repaired boolean NOT NULL DEFAULT false,
  FOREIGN KEY (job, chunk) REFERENCES backfill.chunks (job, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS differences_chunk ON backfill.differences (job, chunk, ord);
ALTER TABLE backfill.jobs                          -- set by `backfill control`
  ADD COLUMN IF NOT EXISTS paused boolean NOT NULL DEFAULT false,
  ADD COLUMN IF NOT EXISTS max_rate double precision,
  ADD COLUMN IF NOT EXISTS max_jobs int,
  ADD COLUMN IF NOT EXISTS chunk_time_ms int;
CREATE TABLE IF NOT EXISTS backfill.workers (      -- each worker's heartbeat, for status
  job               text NOT NULL REFERENCES backfill.jobs (name) ON DELETE CASCADE,
  worker            text NOT NULL,                 -- host:pid
  state             text NOT NULL,                 -- running, throttled, paused, or how it ended
  reason            text,
  chunk_rows        bigint,
  in_flight         int,
  allowed           int,
  throttled_seconds double precision,
  heartbeat_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job, worker)
);
CREATE TABLE IF NOT EXISTS backfill.deferred (      -- copy --defer-indexes: dropped, rebuilt after
  job        text NOT NULL REFERENCES backfill.jobs (name) ON DELETE CASCADE,
  ord        int NOT NULL,                           -- rebuild order
  kind       text NOT NULL,
  name       text NOT NULL,
  create_sql text[] NOT NULL,
  created    boolean NOT NULL DEFAULT false,
  PRIMARY KEY (job, ord)
);
-- The chunks' key order, the planner's: a split's upper half sorts between its neighbours.
ALTER TABLE backfill.chunks ADD COLUMN IF NOT EXISTS ord numeric;
UPDATE backfill.chunks SET ord = id WHERE ord IS NULL;
CREATE INDEX IF NOT EXISTS chunks_ord ON backfill.chunks (job, ord);
-- The heartbeat's session, by which `status` tells a live worker from a dead one (last:
-- kLedgerIsWhole looks for it).
ALTER TABLE backfill.workers
  ADD COLUMN IF NOT EXISTS session_pid int,
  ADD COLUMN IF NOT EXISTS session_start timestamptz;)SQL";
}

// Whether the DDL's last object (the column backfill.workers.session_start) is there, which
// means every statement before it ran too (a ledger of an older version runs the DDL again,
// each statement a no-op but the new ones); from the catalog:
// to_regclass() needs USAGE on the schema, and a role without it must hear what it lacks,
// not "permission denied".
constexpr const char* kLedgerIsWhole =
    "SELECT EXISTS (SELECT FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN "
    "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'backfill' AND c.relname = "
    "'workers' AND a.attname = 'session_start' AND NOT a.attisdropped)";

// The contiguous low watermark of the job `job` names (a parameter or a column), as a scalar
// subquery: the upper bound of the last chunk of the longest run of done chunks from the
// start of the key, in the planner's order; NULL while the first chunk is open (and when
// the run reaches the open-ended last chunk: everything is done).
std::string low_watermark_of(const std::string& job) {
  return "(SELECT w.hi FROM backfill.chunks w WHERE w.job = " + job +
         " AND w.status = 'done' AND w.ord < coalesce((SELECT min(o.ord) FROM backfill.chunks o "
         "WHERE o.job = " +
         job +
         " AND o.status <> 'done'), w.ord + 1) ORDER BY w.ord DESC "
         "LIMIT 1)";
}

Result<std::unique_ptr<PgJobControl>> PgJobControl::connect(const std::string& dsn,
                                                            const std::string& job,
                                                            std::shared_ptr<SessionPool> pool) {
  SessionSettings s;
  s.pool = std::move(pool);
  s.application_name = "backfill control";
  s.statement_timeout_ms = 5000;
  BACKFILL_ASSIGN_OR_RETURN(auto conn, PgConnection::connect(dsn, s));
  conn->prefer_prepared();  // a heartbeat's statements are the same every time
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return std::unique_ptr<PgJobControl>(
      new PgJobControl(std::move(conn), job, std::string(host) + ":" + std::to_string(getpid())));
}

Result<RuntimeControl> PgJobControl::heartbeat(const ThrottleSnapshot& s,
                                               const std::string& state) {
  if (!conn_->healthy()) BACKFILL_RETURN_IF_ERROR(conn_->reconnect());
  BACKFILL_RETURN_IF_ERROR(conn_->exec(
      "INSERT INTO backfill.workers AS w (job, worker, state, reason, chunk_rows, in_flight, "
      "allowed, throttled_seconds, session_pid, session_start) VALUES ($1, $2, $3, nullif($4, "
      "''), $5::bigint, $6::int, $7::int, $8::double precision, pg_backend_pid(), (SELECT "
      "backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid())) ON CONFLICT (job, "
      "worker) DO UPDATE SET state = excluded.state, reason = excluded.reason, chunk_rows = "
      "excluded.chunk_rows, in_flight = excluded.in_flight, allowed = excluded.allowed, "
      "throttled_seconds = excluded.throttled_seconds, session_pid = excluded.session_pid, "
      "session_start = excluded.session_start, heartbeat_at = now()",
      {job_, worker_, state.empty() ? throttle_state_name(s.state) : state, s.reason,
       std::to_string(s.chunk_rows), std::to_string(s.in_flight), std::to_string(s.allowed),
       std::to_string(s.throttled_seconds)}));
  BACKFILL_ASSIGN_OR_RETURN(PgResult r,
                            conn_->query("SELECT paused, max_rate, max_jobs, chunk_time_ms FROM "
                                         "backfill.jobs WHERE name = $1",
                                         {job_}));
  RuntimeControl c;
  if (r.rows() == 0) return c;
  c.paused = r.boolean(0, 0);
  if (auto v = r.maybe(0, 1)) c.max_rate = parse_number<double>(*v).value_or(0);
  if (auto v = r.maybe(0, 2)) c.jobs = parse_number<int>(*v).value_or(0);
  if (auto v = r.maybe(0, 3)) c.chunk_time_ms = parse_number<int>(*v).value_or(0);
  return c;
}

Result<std::unique_ptr<PgLedger>> PgLedger::connect(const std::string& dsn,
                                                    const SessionSettings& settings,
                                                    bool preflight) {
  BACKFILL_ASSIGN_OR_RETURN(auto conn, PgConnection::connect(dsn, settings, preflight));
  conn->prefer_prepared();  // the ledger's statements are constant
  std::unique_ptr<PgLedger> l(new PgLedger(std::move(conn)));
  l->pooled_ = settings.pool != nullptr;
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  l->worker_ = std::string(host) + ":" + std::to_string(getpid());
  return l;
}

Status PgLedger::ensure_connected() {
  if (conn_->healthy()) return Status::ok();
  // A new session is a new worker identity: chunks claimed under the old one look
  // abandoned and may be claimed again, which the write transaction's check of the chunk's
  // status makes harmless.
  BACKFILL_RETURN_IF_ERROR(conn_->reconnect());
  return refresh_identity();
}

Status PgLedger::refresh_identity() {
  BACKFILL_ASSIGN_OR_RETURN(
      worker_start_,
      conn_->session_constant("SELECT coalesce((SELECT backend_start::text FROM "
                              "pg_stat_activity WHERE pid = pg_backend_pid()), '')"));
  return Status::ok();
}

Status PgLedger::check_ledger_privileges() {
  // Read once per session: a pooled session of a set asks for the first table only.
  BACKFILL_ASSIGN_OR_RETURN(
      std::string lacking,
      conn_->session_constant(
          "SELECT coalesce(string_agg(format('%s on %s', p, c.oid::regclass), ', ' ORDER BY "
          "c.relname, n), '') FROM pg_class c, unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', "
          "'DELETE']) WITH ORDINALITY AS u(p, n) WHERE c.relnamespace = 'backfill'::regnamespace "
          "AND c.relkind = 'r' AND NOT (has_schema_privilege('backfill', 'USAGE') AND "
          "has_table_privilege(c.oid, p))"));
  if (lacking.empty()) return Status::ok();
  BACKFILL_ASSIGN_OR_RETURN(std::string role, conn_->session_constant("SELECT current_user"));
  return Status::invalid("--state: role " + role + " may not use the ledger: it lacks " + lacking +
                         " (GRANT USAGE ON SCHEMA backfill TO " + quote_ident(role) +
                         "; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA backfill "
                         "TO " +
                         quote_ident(role) + ")");
}

Status PgLedger::ensure_schema() {
  // The schema is created in one transaction, its last object last: once that object is
  // there, the schema is whole, and most opens (every table of a set after the first) end
  // here, without the transaction and its lock.
  {
    BACKFILL_ASSIGN_OR_RETURN(PgResult r, conn_->query(kLedgerIsWhole));
    if (r.boolean(0, 0)) return check_ledger_privileges();
  }
  // Creating it takes CREATE on the database, or on a backfill schema made for it.
  {
    BACKFILL_ASSIGN_OR_RETURN(
        PgResult r, conn_->query("SELECT current_user, current_database(), CASE WHEN "
                                 "to_regnamespace('backfill') IS NULL THEN "
                                 "has_database_privilege(current_database(), 'CREATE') ELSE "
                                 "has_schema_privilege('backfill', 'CREATE') END"));
    if (!r.boolean(0, 2)) {
      const std::string role = quote_ident(r.text(0, 0));
      return Status::invalid(
          "--state: role " + r.text(0, 0) +
          " may not create the ledger (schema backfill) in database " + r.text(0, 1) +
          ": GRANT CREATE ON DATABASE " + quote_ident(r.text(0, 1)) + " TO " + role +
          ", or create the schema for it (CREATE SCHEMA backfill AUTHORIZATION " + role + ")");
    }
  }
  // Two workers starting together must not race on CREATE: serialise them.
  const Status st = conn_->transaction([&]() -> Status {
    BACKFILL_RETURN_IF_ERROR(
        conn_->exec("SELECT pg_advisory_xact_lock(hashtext('backfill.ledger'))"));
    BACKFILL_ASSIGN_OR_RETURN(PgResult r, conn_->query(kLedgerIsWhole));
    if (r.boolean(0, 0)) return Status::ok();
    // The DDL is several statements: send them one by one over the extended protocol.
    const std::string ddl = ledger_schema_sql();
    std::size_t start = 0;
    while (start < ddl.size()) {
      std::size_t end = ddl.find(";\n", start);
      if (end == std::string::npos) end = ddl.size();
      const std::string stmt = ddl.substr(start, end - start);
      if (stmt.find_first_not_of(" \n;") != std::string::npos) {
        BACKFILL_RETURN_IF_ERROR(conn_->exec(stmt));
      }
      start = end + 2;
    }
    return Status::ok();
  });
  return st.with_context("creating the ledger schema \"backfill\" in " + conn_->where());
}

Result<JobOpen> PgLedger::open(const JobSpec& spec, bool restart) {
  std::lock_guard lock(mu_);
  job_ = spec.name;
  BACKFILL_RETURN_IF_ERROR(ensure_schema());
  BACKFILL_RETURN_IF_ERROR(refresh_identity());
  if (restart) {
    BACKFILL_RETURN_IF_ERROR(conn_->exec("DELETE FROM backfill.jobs WHERE name = $1", {job_}));
  }
  std::optional<std::string> est;
  if (estimated_rows_) est = std::to_string(*estimated_rows_);
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult ins,
      conn_->query("INSERT INTO backfill.jobs (name, command, fingerprint, description, "
                   "chunk_rows, estimated_rows) VALUES ($1, $2, $3, $4, $5::bigint, $6::bigint) "
                   "ON CONFLICT (name) DO NOTHING",
                   {job_, spec.command, spec.fingerprint, spec.description,
                    std::to_string(spec.chunk_rows), est}));
  if (ins.affected() == 1) return JobOpen::kNew;
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult j,
      conn_->query("SELECT fingerprint, status FROM backfill.jobs WHERE name = $1", {job_}));
  if (j.rows() == 0) return Status::failed("job '" + job_ + "' vanished from the ledger");
  if (j.text(0, 0) != spec.fingerprint) {
    return Status::invalid("job '" + job_ +
                           "' exists in the ledger with different arguments; run with --restart "
                           "to start it over, or give another --job name");
  }
  if (j.text(0, 1) == "done") return JobOpen::kAlreadyDone;
  BACKFILL_RETURN_IF_ERROR(
      conn_->exec("UPDATE backfill.jobs SET status = 'running', message = NULL, estimated_rows = "
                  "coalesce($2::bigint, estimated_rows), updated_at = now() WHERE name = $1",
                  {job_, est}));
  return JobOpen::kResumed;
}

PgLedger::~PgLedger() {
  if (!pooled_ || job_.empty() || !conn_ || !conn_->healthy()) return;
  (void)conn_->exec(
      "UPDATE backfill.chunks SET status = 'pending', lease_until = NULL, worker = NULL, "
      "worker_pid = NULL WHERE job = $1 AND status = 'running' AND worker_pid = "
      "pg_backend_pid()",
      {job_});
}

Result<JobOpen> PgLedger::open_set(const JobSpec& spec, bool restart) {
  BACKFILL_ASSIGN_OR_RETURN(JobOpen opened, open(spec, restart));
  std::lock_guard lock(mu_);
  BACKFILL_RETURN_IF_ERROR(
      conn_->exec("UPDATE backfill.jobs SET plan_done = true WHERE name = $1", {job_}));
  return opened;
}

Result<std::optional<Chunk>> PgLedger::try_claim() {
  // Pending chunks first in key order; a running chunk is abandoned when its worker's
  // ledger session is gone or its lease ran out.
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult r,
      conn_->query(
          "WITH c AS (SELECT ch.id FROM backfill.chunks ch WHERE ch.job = $1 AND ch.status <> "
          "'done' AND (ch.status = 'pending' OR ch.lease_until < now() OR NOT EXISTS (SELECT 1 "
          "FROM pg_stat_activity a WHERE a.pid = ch.worker_pid AND a.backend_start = "
          "ch.worker_start)) ORDER BY ch.id LIMIT 1 FOR UPDATE SKIP LOCKED) "
          "UPDATE backfill.chunks ch SET status = 'running', attempts = ch.attempts + 1, worker "
          "= $2, worker_pid = pg_backend_pid(), worker_start = $3::timestamptz, lease_until = "
          "now() + make_interval(secs => $4::int), started_at = now() FROM c WHERE ch.job = $1 "
          "AND ch.id = c.id RETURNING ch.id, ch.lo, ch.hi, ch.attempts",
          {job_, worker_, worker_start_, std::to_string(kLeaseSeconds)}));
  if (r.rows() == 0) return std::optional<Chunk>{};
  Chunk c;
  c.id = r.int64(0, 0);
  if (!r.is_null(0, 1)) {
    BACKFILL_ASSIGN_OR_RETURN(Key lo, decode_text_array(r.text(0, 1)));
    c.range.lo = std::move(lo);
  }
  if (!r.is_null(0, 2)) {
    BACKFILL_ASSIGN_OR_RETURN(Key hi, decode_text_array(r.text(0, 2)));
    c.range.hi = std::move(hi);
  }
  c.attempt = static_cast<int>(r.int64(0, 3));
  return std::optional<Chunk>(std::move(c));
}

Result<PlanCursor> PgLedger::read_plan_position(bool for_update, std::int64_t* next_chunk) {
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult j, conn_->query(std::string("SELECT plan_after, plan_done, next_chunk FROM "
                                           "backfill.jobs WHERE name = $1") +
                                   (for_update ? " FOR UPDATE" : ""),
                               {job_}));
  if (j.rows() == 0) return Status::failed("job '" + job_ + "' is not in the ledger");
  PlanCursor cursor;
  cursor.done = j.boolean(0, 1);
  if (!j.is_null(0, 0)) {
    BACKFILL_ASSIGN_OR_RETURN(Key after, decode_text_array(j.text(0, 0)));
    cursor.after = std::move(after);
  }
  if (next_chunk) *next_chunk = j.int64(0, 2);
  return cursor;
}

Result<PlanCursor> PgLedger::plan_position() {
  std::lock_guard lock(mu_);
  BACKFILL_RETURN_IF_ERROR(ensure_connected());
  return read_plan_position(false, nullptr);
}

Result<bool> PgLedger::record_plan(const PlanCursor& from, const std::vector<ChunkRange>& chunks,
                                   const PlanCursor& to) {
  std::lock_guard lock(mu_);
  BACKFILL_RETURN_IF_ERROR(ensure_connected());
  bool recorded = false;
  // The job row's lock is held only for these statements: the walk happened before.
  Status st = conn_->transaction([&]() -> Status {
    std::int64_t next = 0;
    BACKFILL_ASSIGN_OR_RETURN(PlanCursor now, read_plan_position(true, &next));
    if (now.done != from.done || now.after != from.after) return Status::ok();
    for (const auto& r : chunks) {
      Params p{job_, std::to_string(next++)};
      p.push_back(r.lo ? std::optional<std::string>(encode_text_array(*r.lo)) : std::nullopt);
      p.push_back(r.hi ? std::optional<std::string>(encode_text_array(*r.hi)) : std::nullopt);
      BACKFILL_RETURN_IF_ERROR(
          conn_->exec("INSERT INTO backfill.chunks (job, id, lo, hi, ord) VALUES ($1, $2::bigint, "
                      "$3::text[], $4::text[], $2::numeric)",
                      p));
    }
    Params p{job_,
             to.after ? std::optional<std::string>(encode_text_array(*to.after)) : std::nullopt,
             to.done ? "true" : "false", std::to_string(next)};
    BACKFILL_RETURN_IF_ERROR(conn_->exec(
        "UPDATE backfill.jobs SET plan_after = $2::text[], plan_done = $3::boolean, next_chunk = "
        "$4::bigint, updated_at = now() WHERE name = $1",
        p));
    recorded = true;
    return Status::ok();
  });
  if (!st.is_ok()) return st;
  return recorded;
}

Result<std::optional<Chunk>> PgLedger::claim() {
  std::lock_guard lock(mu_);
  BACKFILL_RETURN_IF_ERROR(ensure_connected());
  return try_claim();
}

Status PgLedger::complete(const Chunk& chunk, const ChunkResult& r) {
  std::lock_guard lock(mu_);
  BACKFILL_RETURN_IF_ERROR(ensure_connected());
  const std::string id = std::to_string(chunk.id);
  auto n = [](std::int64_t v) { return std::optional<std::string>(std::to_string(v)); };
  auto body = [&]() -> Status {
    BACKFILL_RETURN_IF_ERROR(conn_->exec(
        "UPDATE backfill.chunks SET status = 'done', rows = $3::bigint, rows_written = "
        "$3::bigint, rows_target = $4::bigint, missing = $5::bigint, extra = $6::bigint, "
        "different = $7::bigint, repaired = $8::bigint, finished_at = clock_timestamp(), "
        "lease_until = NULL WHERE job = $1 AND id = $2::bigint",
        {job_, id, n(r.rows), n(r.target_rows), n(r.missing), n(r.extra), n(r.different),
         n(r.repaired)}));
    BACKFILL_RETURN_IF_ERROR(conn_->exec(
        "DELETE FROM backfill.differences WHERE job = $1 AND chunk = $2::bigint", {job_, id}));
    if (r.listed.empty() && r.repaired_listed.empty()) return Status::ok();
    // One INSERT for the chunk's rows: keys travel as an array of array literals.
    Key keys, kinds, repaired;
    for (const auto* list : {&r.listed, &r.repaired_listed}) {
      for (const auto& d : *list) {
        keys.push_back(encode_text_array(d.key));
        kinds.push_back(diff_kind_name(d.kind));
        repaired.push_back(list == &r.repaired_listed ? "t" : "f");
      }
    }
    return conn_->exec(
        "INSERT INTO backfill.differences (job, chunk, ord, key, kind, repaired) SELECT $1, "
        "$2::bigint, u.ord, u.k::text[], u.kind, u.r FROM unnest($3::text[], $4::text[], "
        "$5::boolean[]) WITH ORDINALITY AS u(k, kind, r, ord)",
        {job_, id, encode_text_array(keys), encode_text_array(kinds), encode_text_array(repaired)});
  };
  return conn_->transaction(body);
}

Result<JobResults> PgLedger::results(std::int64_t max_listed) {
  std::lock_guard lock(mu_);
  BACKFILL_RETURN_IF_ERROR(ensure_connected());
  JobResults out;
  const std::string limit = std::to_string(max_listed);
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult t,
      conn_->query("SELECT count(*), coalesce(sum(rows), 0), coalesce(sum(rows_target), 0),"
                   " coalesce(sum(missing), 0), coalesce(sum(extra), 0),"
                   " coalesce(sum(different), 0), coalesce(sum(repaired), 0),"
                   " count(*) FILTER (WHERE missing + extra + different > 0)"
                   " FROM backfill.chunks WHERE job = $1 AND status = 'done'",
                   {job_}));
  out.chunks = t.int64(0, 0);
  ChunkResult& tot = out.totals;
  tot.rows = t.int64(0, 1);
  tot.target_rows = t.int64(0, 2);
  tot.missing = t.int64(0, 3);
  tot.extra = t.int64(0, 4);
  tot.different = t.int64(0, 5);
  tot.repaired = t.int64(0, 6);
  out.chunks_mismatched = t.int64(0, 7);
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult m,
      conn_->query("SELECT id, lo, hi, rows, rows_target, missing, extra, different, repaired"
                   " FROM backfill.chunks WHERE job = $1 AND status = 'done' AND"
                   " coalesce(missing + extra + different + repaired, 0) > 0"
                   " ORDER BY id LIMIT $2::bigint",
                   {job_, limit}));
  for (int i = 0; i < m.rows(); ++i) {
    ChunkRecord rec;
    rec.chunk.id = m.int64(i, 0);
    if (!m.is_null(i, 1)) {
      BACKFILL_ASSIGN_OR_RETURN(Key lo, decode_text_array(m.text(i, 1)));
      rec.chunk.range.lo = std::move(lo);
    }
    if (!m.is_null(i, 2)) {
      BACKFILL_ASSIGN_OR_RETURN(Key hi, decode_text_array(m.text(i, 2)));
      rec.chunk.range.hi = std::move(hi);
    }
    rec.result.rows = m.int64(i, 3);
    rec.result.target_rows = m.int64(i, 4);
    rec.result.missing = m.int64(i, 5);
    rec.result.extra = m.int64(i, 6);
    rec.result.different = m.int64(i, 7);
    rec.result.repaired = m.int64(i, 8);
    out.mismatched.push_back(std::move(rec));
  }
  for (bool repaired : {false, true}) {
    BACKFILL_ASSIGN_OR_RETURN(
        PgResult d, conn_->query("SELECT key, kind FROM backfill.differences WHERE job = $1 AND"
                                 " repaired = $2::boolean ORDER BY chunk, ord LIMIT $3::bigint",
                                 {job_, repaired ? "t" : "f", limit}));
    auto& list = repaired ? tot.repaired_listed : tot.listed;
    for (int i = 0; i < d.rows(); ++i) {
      BACKFILL_ASSIGN_OR_RETURN(Key key, decode_text_array(d.text(i, 0)));
      std::string kind = d.text(i, 1);
      list.push_back({std::move(key), kind == "missing" ? DiffKind::kMissing
                                      : kind == "extra" ? DiffKind::kExtra
                                                        : DiffKind::kDifferent});
    }
  }
  return out;
}

Status PgLedger::release(const Chunk& chunk) {
  std::lock_guard lock(mu_);
  BACKFILL_RETURN_IF_ERROR(ensure_connected());
  return conn_->exec(
      "UPDATE backfill.chunks SET status = 'pending', lease_until = NULL, worker = NULL, "
      "worker_pid = NULL WHERE job = $1 AND id = $2::bigint AND status = 'running' AND "
      "worker_pid = pg_backend_pid()",
      {job_, std::to_string(chunk.id)});
}

Status PgLedger::split(const Chunk& chunk, const Key& mid) {
  std::lock_guard lock(mu_);
  BACKFILL_RETURN_IF_ERROR(ensure_connected());
  auto body = [&]() -> Status {
    BACKFILL_ASSIGN_OR_RETURN(
        PgResult j,
        conn_->query("SELECT next_chunk FROM backfill.jobs WHERE name = $1 FOR UPDATE", {job_}));
    if (j.rows() == 0) return Status::failed("job '" + job_ + "' is not in the ledger");
    const std::string next = j.text(0, 0);
    // Only a chunk this session holds; its upper half keeps the old upper bound.
    BACKFILL_ASSIGN_OR_RETURN(
        PgResult old,
        conn_->query("UPDATE backfill.chunks c SET hi = $3::text[], status = 'pending', "
                     "lease_until = NULL, worker = NULL, worker_pid = NULL FROM backfill.chunks o "
                     "WHERE c.job = $1 AND c.id = $2::bigint AND c.status = 'running' AND "
                     "c.worker_pid = pg_backend_pid() AND o.job = c.job AND o.id = c.id "
                     "RETURNING o.hi",
                     {job_, std::to_string(chunk.id), encode_text_array(mid)}));
    if (old.rows() == 0)
      return Status::failed("chunk " + std::to_string(chunk.id) + " is not ours");
    BACKFILL_RETURN_IF_ERROR(
        // The upper half sorts between its lower half and the next chunk in key order.
        conn_->exec(
            "INSERT INTO backfill.chunks (job, id, lo, hi, ord) SELECT $1, $2::bigint, "
            "$3::text[], $4::text[], (c.ord + coalesce((SELECT min(n.ord) FROM "
            "backfill.chunks n WHERE n.job = $1 AND n.ord > c.ord), c.ord + 1)) / 2 "
            "FROM backfill.chunks c WHERE c.job = $1 AND c.id = $5::bigint",
            {job_, next, encode_text_array(mid), old.maybe(0, 0), std::to_string(chunk.id)}));
    return conn_->exec("UPDATE backfill.jobs SET next_chunk = next_chunk + 1 WHERE name = $1",
                       {job_});
  };
  return conn_->transaction(body);
}

Result<LedgerProgress> PgLedger::progress() {
  std::lock_guard lock(mu_);
  BACKFILL_RETURN_IF_ERROR(ensure_connected());
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult r,
      conn_->query("SELECT count(*) FILTER (WHERE c.status = 'done'), coalesce(sum(c.rows) FILTER "
                   "(WHERE c.status = 'done'), 0), count(c.id), count(*) FILTER (WHERE c.status = "
                   "'running'), j.plan_done FROM backfill.jobs j LEFT JOIN backfill.chunks c ON "
                   "c.job = j.name WHERE j.name = $1 GROUP BY j.plan_done",
                   {job_}));
  LedgerProgress p;
  if (r.rows() == 0) return p;
  p.chunks_done = r.int64(0, 0);
  p.rows_done = r.int64(0, 1);
  p.chunks_planned = r.int64(0, 2);
  p.chunks_running = r.int64(0, 3);
  p.plan_done = r.boolean(0, 4);
  BACKFILL_ASSIGN_OR_RETURN(PgResult w, conn_->query("SELECT " + low_watermark_of("$1"), {job_}));
  if (!w.is_null(0, 0)) {
    BACKFILL_ASSIGN_OR_RETURN(Key k, decode_text_array(w.text(0, 0)));
    p.low_watermark = std::move(k);
  }
  return p;
}

Status PgLedger::finish(JobOutcome outcome, const std::string& message) {
  std::lock_guard lock(mu_);
  BACKFILL_RETURN_IF_ERROR(ensure_connected());
  const char* o = outcome == JobOutcome::kOk       ? "ok"
                  : outcome == JobOutcome::kFailed ? "failed"
                                                   : "interrupted";
  // The job is done only when planning is done and no chunk is left, whoever did them.
  return conn_->exec(
      "UPDATE backfill.jobs j SET status = CASE WHEN $2 <> 'ok' THEN $2 WHEN j.plan_done AND NOT "
      "EXISTS (SELECT 1 FROM backfill.chunks c WHERE c.job = j.name AND c.status <> 'done') THEN "
      "'done' ELSE 'running' END, message = nullif($3, ''), updated_at = now() WHERE j.name = $1",
      {job_, o, message});
}

namespace {

Result<std::optional<std::vector<DeferredObject>>> load_deferred(PgConnection& conn,
                                                                 const std::string& job) {
  BACKFILL_ASSIGN_OR_RETURN(PgResult exists, conn.query(kLedgerIsWhole));
  if (!exists.boolean(0, 0)) return std::optional<std::vector<DeferredObject>>{};
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult r, conn.query("SELECT ord, kind, name, create_sql, created FROM backfill.deferred "
                             "WHERE job = $1 ORDER BY ord",
                             {job}));
  if (r.rows() == 0) return std::optional<std::vector<DeferredObject>>{};
  std::vector<DeferredObject> out;
  for (int i = 0; i < r.rows(); ++i) {
    DeferredObject o;
    o.ord = static_cast<int>(r.int64(i, 0));
    o.kind = r.text(i, 1);
    o.name = r.text(i, 2);
    BACKFILL_ASSIGN_OR_RETURN(o.create_sql, decode_text_array(r.text(i, 3)));
    o.created = r.boolean(i, 4);
    out.push_back(std::move(o));
  }
  return std::optional<std::vector<DeferredObject>>(std::move(out));
}

}  // namespace

Result<std::optional<std::vector<DeferredObject>>> PgLedger::saved_deferred(
    const std::string& job) {
  std::lock_guard lock(mu_);
  // Asked at preflight, before the job is opened: a ledger this role may not use is named
  // here too.
  BACKFILL_ASSIGN_OR_RETURN(PgResult whole, conn_->query(kLedgerIsWhole));
  if (whole.boolean(0, 0)) BACKFILL_RETURN_IF_ERROR(check_ledger_privileges());
  return load_deferred(*conn_, job);
}

Result<std::optional<std::vector<DeferredObject>>> PgLedger::save_deferred(
    const std::vector<DeferredObject>& objects) {
  std::lock_guard lock(mu_);
  BACKFILL_RETURN_IF_ERROR(
      conn_->exec("SELECT 1 FROM backfill.jobs WHERE name = $1 FOR UPDATE", {job_}));
  BACKFILL_ASSIGN_OR_RETURN(auto saved, load_deferred(*conn_, job_));
  const auto pending = [](const DeferredObject& o) { return !o.created; };
  if (saved && std::any_of(saved->begin(), saved->end(), pending)) return saved;
  BACKFILL_RETURN_IF_ERROR(conn_->exec("DELETE FROM backfill.deferred WHERE job = $1", {job_}));
  for (const auto& o : objects) {
    BACKFILL_RETURN_IF_ERROR(conn_->exec(
        "INSERT INTO backfill.deferred (job, ord, kind, name, create_sql) VALUES ($1, $2::int, $3, "
        "$4, $5::text[])",
        {job_, std::to_string(o.ord), o.kind, o.name, encode_text_array(o.create_sql)}));
  }
  return std::optional<std::vector<DeferredObject>>{};
}

Result<bool> PgLedger::claim_rebuild(const DeferredObject& object) {
  std::lock_guard lock(mu_);
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult r, conn_->query("UPDATE backfill.deferred SET created = true "
                               "WHERE job = $1 AND ord = $2::int AND NOT created RETURNING 1",
                               {job_, std::to_string(object.ord)}));
  return r.rows() == 1;
}

Result<bool> lock_pending_chunk(PgConnection& conn, const std::string& job, std::int64_t id) {
  BACKFILL_ASSIGN_OR_RETURN(PgResult st,
                            conn.query_cached("SELECT status FROM backfill.chunks WHERE job = $1 "
                                              "AND id = $2::bigint FOR UPDATE",
                                              {job, std::to_string(id)}));
  return st.rows() > 0 && st.text(0, 0) != "done";
}

Status record_chunk_done(PgConnection& conn, const std::string& job, std::int64_t id,
                         std::int64_t rows, std::int64_t rows_written) {
  return conn
      .query_cached(
          "UPDATE backfill.chunks SET status = 'done', rows = $3::bigint, rows_written = "
          "$4::bigint, finished_at = clock_timestamp(), lease_until = NULL WHERE job = $1 AND "
          "id = $2::bigint",
          {job, std::to_string(id), std::to_string(rows), std::to_string(rows_written)})
      .status();
}

Result<bool> ledger_exists(PgConnection& conn) {
  BACKFILL_ASSIGN_OR_RETURN(PgResult has,
                            conn.query("SELECT to_regclass('backfill.jobs') IS NOT NULL"));
  return has.boolean(0, 0);
}

Result<std::optional<std::string>> job_fingerprint(PgConnection& conn, const std::string& job) {
  BACKFILL_ASSIGN_OR_RETURN(bool exists, ledger_exists(conn));
  if (!exists) return std::optional<std::string>{};
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult r, conn.query("SELECT fingerprint FROM backfill.jobs WHERE name = $1", {job}));
  if (r.rows() == 0) return std::optional<std::string>{};
  return std::optional<std::string>(r.text(0, 0));
}

Result<std::set<std::string>> jobs_since_set(PgConnection& conn, const std::string& set) {
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult r, conn.query("SELECT t.name FROM backfill.jobs t JOIN backfill.jobs s ON s.name = "
                             "$1 WHERE starts_with(t.name, $1 || '/') AND t.created_at >= "
                             "s.created_at",
                             {set}));
  std::set<std::string> out;
  for (int i = 0; i < r.rows(); ++i) out.insert(r.text(i, 0));
  return out;
}

Result<std::optional<std::string>> set_of(PgConnection& conn, const std::string& job) {
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult r, conn.query("SELECT s.name FROM backfill.jobs s WHERE s.command LIKE '% --tables' "
                             "AND starts_with($1, s.name || '/') ORDER BY length(s.name) DESC "
                             "LIMIT 1",
                             {job}));
  if (r.rows() == 0) return std::optional<std::string>{};
  return std::optional<std::string>(r.text(0, 0));
}

namespace {
// Whether worker row `w`'s heartbeat session is still connected, as SQL: a row from before
// the session was recorded is assumed alive, and so is a session whose start this role may
// not see (pg_stat_activity hides it from a role without pg_read_all_stats). A ledger an
// older version made has no session columns until a worker of this one opens it: then
// every worker is assumed alive.
Result<std::string> worker_alive_sql(PgConnection& conn) {
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult has, conn.query("SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = "
                               "to_regclass('backfill.workers') AND attname = 'session_start' "
                               "AND NOT attisdropped)"));
  if (!has.boolean(0, 0)) return std::string("true");
  return std::string(
      "(w.session_pid IS NULL OR EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = "
      "w.session_pid AND (a.backend_start IS NULL OR a.backend_start = w.session_start)))");
}
}  // namespace

Result<std::vector<JobStatusRow>> job_statuses(PgConnection& conn, const std::string& job) {
  BACKFILL_ASSIGN_OR_RETURN(const std::string alive, worker_alive_sql(conn));
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult r,
      conn.query("SELECT j.name, j.status, j.description, coalesce(j.estimated_rows, -1),"
                 " count(c.id) FILTER (WHERE c.status = 'done'), count(c.id),"
                 // In flight: running on a session still connected (not left by a kill).
                 " count(c.id) FILTER (WHERE c.status = 'running' AND EXISTS (SELECT 1 FROM"
                 " pg_stat_activity a WHERE a.pid = c.worker_pid AND a.backend_start ="
                 " c.worker_start)),"
                 " coalesce(sum(c.rows) FILTER (WHERE c.status = 'done'), 0),"
                 // The rate of the last minute, over the part of it the job ran (a job
                 // 3 s old, or 3 s into its resume, is not averaged over 60 s).
                 " coalesce(sum(c.rows) FILTER (WHERE c.finished_at > now() - interval '60"
                 " seconds'), 0) / greatest(1, least(60, extract(epoch FROM now() -"
                 " min(c.started_at) FILTER (WHERE c.finished_at > now() - interval '60"
                 " seconds')))),"
                 // Chunk size: the latest finished chunk's rows (sizes adapt), else the
                 // size the job started with.
                 " j.plan_done, coalesce((SELECT l.rows FROM backfill.chunks l WHERE l.job ="
                 " j.name AND l.status = 'done' ORDER BY l.finished_at DESC LIMIT 1),"
                 " j.chunk_rows), to_char(j.updated_at, 'YYYY-MM-DD HH24:MI:SS'), "
                 "coalesce(j.message, ''), " +
                     low_watermark_of("j.name") +
                     ", j.command, coalesce(sum(c.rows) / nullif(extract(epoch FROM"
                     " max(c.finished_at) - min(c.started_at)), 0), 0), " +
                     // Its workers (a set's table: the set's) alive and at work, and any.
                     "(SELECT count(*) FROM backfill.workers w WHERE (w.job = j.name OR "
                     "starts_with(j.name, w.job || '/')) AND w.state IN ('running', "
                     "'throttled', 'paused') AND " +
                     alive +
                     // Worker rows of this run only (heard since their job, the set for a
                     // set's table, was opened): a resumed job is not stalled for its last
                     // run's workers.
                     "), EXISTS (SELECT 1 FROM backfill.workers w JOIN backfill.jobs o ON "
                     "o.name = w.job WHERE (w.job = j.name OR starts_with(j.name, w.job || "
                     "'/')) AND w.heartbeat_at >= o.updated_at), "
                     "j.updated_at < now() - interval '10 seconds'" +
                     " FROM backfill.jobs j LEFT JOIN backfill.chunks c ON c.job = j.name"
                     " WHERE $1 = '' OR j.name = $1 OR starts_with(j.name, $1 || '/')"
                     " GROUP BY j.name ORDER BY j.updated_at DESC",
                 {job}));
  std::vector<JobStatusRow> out;
  for (int i = 0; i < r.rows(); ++i) {
    JobStatusRow j;
    j.name = r.text(i, 0);
    j.status = r.text(i, 1);
    j.description = r.text(i, 2);
    j.estimated_rows = r.int64(i, 3);
    j.chunks_done = r.int64(i, 4);
    j.chunks = r.int64(i, 5);
    j.chunks_running = r.int64(i, 6);
    j.rows_done = r.int64(i, 7);
    j.rate = parse_number<double>(r.text(i, 8)).value_or(0);
    j.plan_done = r.boolean(i, 9);
    j.chunk_rows = r.int64(i, 10);
    j.updated_at = r.text(i, 11);
    j.message = r.text(i, 12);
    if (!r.is_null(i, 13)) {
      BACKFILL_ASSIGN_OR_RETURN(Key k, decode_text_array(r.text(i, 13)));
      j.low_watermark = std::move(k);
    }
    j.command = r.text(i, 14);
    const double average = parse_number<double>(r.text(i, 15)).value_or(0);
    j.live_workers = r.int64(i, 16);
    // Running in the ledger with no worker alive: every worker's session is gone (a kill
    // -9, a lost machine), or none ever beat and the job was opened a while ago.
    j.stalled =
        j.status == "running" && j.live_workers == 0 && (r.boolean(i, 17) || r.boolean(i, 18));
    if (j.status != "running" || j.stalled) j.rate = average;
    out.push_back(std::move(j));
  }
  return out;
}

Result<std::vector<WorkerStatusRow>> worker_statuses(PgConnection& conn, const std::string& job) {
  std::vector<WorkerStatusRow> out;
  BACKFILL_ASSIGN_OR_RETURN(PgResult has,
                            conn.query("SELECT to_regclass('backfill.workers') IS NOT NULL"));
  if (!has.boolean(0, 0)) return out;
  BACKFILL_ASSIGN_OR_RETURN(const std::string alive, worker_alive_sql(conn));
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult w,
      conn.query("SELECT worker, state, coalesce(reason, ''), coalesce(chunk_rows, 0), "
                 "coalesce(in_flight, 0), coalesce(allowed, 0), "
                 "round(coalesce(throttled_seconds, 0))::bigint, "
                 "heartbeat_at > now() - interval '5 seconds', "
                 "round(extract(epoch FROM now() - heartbeat_at))::bigint, " +
                     alive +
                     " FROM backfill.workers w WHERE job = $1 ORDER BY heartbeat_at DESC LIMIT 20",
                 {job}));
  for (int i = 0; i < w.rows(); ++i) {
    WorkerStatusRow r;
    r.worker = w.text(i, 0);
    r.state = w.text(i, 1);
    r.reason = w.text(i, 2);
    r.chunk_rows = w.int64(i, 3);
    r.in_flight = w.int64(i, 4);
    r.allowed = w.int64(i, 5);
    r.throttled_seconds = w.int64(i, 6);
    r.live = w.boolean(i, 7);
    r.seconds_since = w.int64(i, 8);
    r.session_gone = !w.boolean(i, 9);
    // A worker at work whose session is gone died without a word (kill -9, a lost host).
    if (r.session_gone && (r.state == "running" || r.state == "throttled" || r.state == "paused")) {
      r.last_state = r.state;
      r.state = "dead";
      r.live = false;
    }
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::optional<ControlState>> change_control(PgConnection& conn, const std::string& job,
                                                   const ControlChange& c) {
  auto opt = [](const auto& v) -> std::optional<std::string> {
    if (!v) return std::nullopt;
    return std::to_string(*v);
  };
  // A NULL parameter leaves that setting as it is. A max rate of 0 is kept as 0, which the
  // throttle reads as no cap: it lifts the command line's --max-rate too (NULL would mean
  // the command line's).
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult r,
      conn.query("UPDATE backfill.jobs SET paused = CASE WHEN $2 THEN true WHEN $3 THEN false "
                 "ELSE paused END, max_rate = CASE WHEN $7 THEN $4::double precision ELSE "
                 "coalesce($4::double precision, max_rate) END, max_jobs = CASE WHEN $7 THEN "
                 "$5::int ELSE coalesce($5::int, max_jobs) END, chunk_time_ms = CASE WHEN $7 "
                 "THEN $6::int ELSE coalesce($6::int, chunk_time_ms) END, updated_at = now() "
                 "WHERE name = $1 RETURNING paused, coalesce(max_rate::text, ''), "
                 "coalesce(max_jobs::text, ''), coalesce(chunk_time_ms::text, '')",
                 {job, c.pause ? "true" : "false", c.resume ? "true" : "false", opt(c.max_rate),
                  opt(c.jobs), opt(c.chunk_time_ms), c.as_started ? "true" : "false"}));
  if (r.rows() == 0) return std::optional<ControlState>{};
  return std::optional<ControlState>(
      ControlState{r.boolean(0, 0), r.text(0, 1), r.text(0, 2), r.text(0, 3)});
}

}  // namespace backfill::pg
