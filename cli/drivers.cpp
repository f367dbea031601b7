#include "cli/drivers.hpp"

#include <set>
#include <string_view>

#include "drivers/postgres/connection.hpp"

namespace backfill::cli {

Result<DriverKind> driver_of(const std::string& dsn) {
  const auto colon = dsn.find("://");
  // key=value strings have no scheme; '=' before "://" means a value holds it.
  if (colon == std::string::npos || dsn.find('=') < colon) return DriverKind::kPostgres;
  std::string scheme = dsn.substr(0, colon);
  for (char& c : scheme) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (scheme == "postgresql" || scheme == "postgres") return DriverKind::kPostgres;
  if (scheme == "mysql" || scheme == "mariadb") return DriverKind::kMysql;
  return Status::invalid("unknown connection string scheme \"" + scheme +
                         "://\": use postgresql://, a key=value string, mysql:// or mariadb://");
}

Status check_dsn(const std::string& dsn, const char* option, DsnRole role) {
  const Result<DriverKind> kind = driver_of(dsn);
  if (!kind.ok()) return kind.status().with_context(option);
  if (kind.value() == DriverKind::kMysql) {
    if (role == DsnRole::kSource) {
      return Status::invalid(std::string(option) +
                             ": a MySQL/MariaDB source needs the mysql driver, which this build "
                             "does not have yet; only PostgreSQL sources are supported");
    }
    return Status::invalid(std::string(option) + ": the " +
                           (role == DsnRole::kTarget ? "target" : "ledger (--state)") +
                           " must be a PostgreSQL database, not MySQL/MariaDB");
  }
  return pg::check_dsn(dsn).with_context(option);
}

Status check_connections(const std::vector<NamedDsn>& dsns) {
  for (const NamedDsn& d : dsns) {
    if (d.role != DsnRole::kState || !d.dsn.empty()) {
      BACKFILL_RETURN_IF_ERROR(check_dsn(d.dsn, d.option, d.role));
    }
  }
  std::set<std::string> seen;
  for (const NamedDsn& d : dsns) {
    if (d.dsn.empty() && d.role == DsnRole::kState) continue;
    if (!seen.insert(d.dsn).second) continue;
    BACKFILL_RETURN_IF_ERROR(pg::refuse_transaction_pooling(d.dsn, d.option));
  }
  return Status::ok();
}

}  // namespace backfill::cli
