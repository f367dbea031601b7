-- Shape "numeric_ledger": six numeric columns (with and without a typmod) beside a date and
-- an integer, the shape of an accounting table.
-- psql -v rows=N -f scripts/sql/shapes/numeric_ledger.sql
CREATE TABLE numeric_ledger (
  id         bigint PRIMARY KEY,
  account    int NOT NULL,
  amount     numeric(18,2) NOT NULL,
  balance    numeric(20,2) NOT NULL,
  rate       numeric(10,6),
  fee        numeric(12,4) NOT NULL,
  tax        numeric,
  fx         numeric(16,8),
  booked_on  date NOT NULL
);
INSERT INTO numeric_ledger
SELECT i, i % 20000,
       ((i::bigint * 7919) % 10000000) / 100.0 - 50000,
       (i::numeric * 1234.56) % 1000000000,
       CASE WHEN i % 4 = 0 THEN NULL ELSE ((i * 31) % 1000000) / 1000000.0 END,
       ((i * 13) % 100000) / 10000.0,
       ((i * 17) % 1000003) / 7.0,
       1 + ((i * 29) % 100000000) / 100000000.0,
       date '2000-01-01' + i % 9000
FROM generate_series(1, :rows) AS i;
ANALYZE numeric_ledger;
