-- Shape "narrow": a bigint key, a few integers and a timestamptz, about 60 bytes a row.
-- psql -v rows=N -f scripts/sql/shapes/narrow.sql
CREATE TABLE narrow (
  id        bigint PRIMARY KEY,
  account   int NOT NULL,
  kind      int NOT NULL,
  quantity  int,
  flags     smallint NOT NULL,
  at        timestamptz NOT NULL
);
INSERT INTO narrow
SELECT i, (i::bigint * 7919) % 1000003, i % 1000, CASE WHEN i % 5 = 0 THEN NULL ELSE i % 77 END,
       (i % 32000)::smallint, timestamptz '2020-01-01 00:00:00+00' + i * interval '3 seconds'
FROM generate_series(1, :rows) AS i;
ANALYZE narrow;
