-- Shape "wide_text": text columns of a few hundred bytes, and on one row in 50 a body of
-- about 10 kB of incompressible text, which PostgreSQL stores out of line (TOAST).
-- psql -v rows=N -f scripts/sql/shapes/wide_text.sql
CREATE TABLE wide_text (
  id          bigint PRIMARY KEY,
  title       text NOT NULL,
  author      text,
  summary     text,
  body        text NOT NULL,
  updated_at  timestamptz NOT NULL
);
INSERT INTO wide_text
SELECT i,
       'Title ' || i || ': ' || substr(md5(i::text), 1, 24),
       CASE WHEN i % 9 = 0 THEN NULL ELSE 'Author ' || i % 5000 END,
       repeat(md5((i + 1)::text), 4),
       CASE WHEN i % 50 = 0
            THEN (SELECT string_agg(md5((i * 1000 + k)::text), '') FROM generate_series(1, 320) k)
            ELSE repeat(md5(i::text) || ' ', 12) END,
       timestamptz '2019-06-01 00:00:00+00' + i * interval '17 seconds'
FROM generate_series(1, :rows) AS i;
ANALYZE wide_text;
