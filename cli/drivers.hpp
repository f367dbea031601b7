// Which driver a connection string names, picked from its form before anything connects:
// a postgresql:// or postgres:// URI, or a libpq key=value string (empty: the PG*
// variables), is PostgreSQL; mysql:// and mariadb:// are MySQL/MariaDB. The target and the
// ledger are PostgreSQL whatever the source is. Thread-safe; only check_connections()
// connects.
#pragma once

#include <string>
#include <vector>

#include "engine/util/status.hpp"

namespace backfill::cli {

enum class DriverKind { kPostgres, kMysql };

// kInvalid for a URI whose scheme names no driver ("sqlite://...").
Result<DriverKind> driver_of(const std::string& dsn);

// What a connection string is for: the table read, the table written, or the ledger.
enum class DsnRole { kSource, kTarget, kState };

// Refuses, naming `option` and never echoing the string (it may hold a password), a
// connection string whose driver this build cannot use in `role`, or that its driver cannot
// parse. ok() when the command can connect with it.
Status check_dsn(const std::string& dsn, const char* option, DsnRole role);

struct NamedDsn {
  std::string dsn;
  const char* option;  // "--source"
  DsnRole role;
};
// The preflight of every connection string a command uses, once per distinct string:
// check_dsn(), then a connection that must not lead through a pooler in transaction mode
// (pg::refuse_transaction_pooling). An empty string (an unset --state) is skipped.
Status check_connections(const std::vector<NamedDsn>& dsns);

}  // namespace backfill::cli
