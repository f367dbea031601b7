-- Shape "jsonb_docs": a bigint key and a jsonb document of about 400 bytes on every row
-- (nested objects, an array of three items, numbers, booleans, text).
-- psql -v rows=N -f scripts/sql/shapes/jsonb_docs.sql
CREATE TABLE jsonb_docs (
  id   bigint PRIMARY KEY,
  doc  jsonb NOT NULL
);
INSERT INTO jsonb_docs
SELECT i, jsonb_build_object(
         'type', (ARRAY['click', 'view', 'purchase', 'signup'])[1 + i % 4],
         'user', jsonb_build_object('id', i % 100000, 'name', 'user' || i % 100000,
                                    'tags', jsonb_build_array('a' || i % 7, 'b' || i % 11, 'c' || i % 13)),
         'at', to_char(timestamptz '2021-01-01 00:00:00+00' + i * interval '1 second',
                       'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
         'props', jsonb_build_object('path', '/p/' || i % 5000 || '/item/' || i, 'ref', md5(i::text),
                                     'score', (i % 1000) / 10.0, 'ok', i % 2 = 0),
         'items', jsonb_build_array(
                    jsonb_build_object('sku', 'SKU-' || (i + 1) % 10000, 'qty', 1 + i % 5,
                                       'price', (i % 10000) / 100.0),
                    jsonb_build_object('sku', 'SKU-' || (i + 2) % 10000, 'qty', 1 + (i + 1) % 5,
                                       'price', (i * 3 % 10000) / 100.0),
                    jsonb_build_object('sku', 'SKU-' || (i + 3) % 10000, 'qty', 1 + (i + 2) % 5,
                                       'price', (i * 7 % 10000) / 100.0)))
FROM generate_series(1, :rows) AS i;
ANALYZE jsonb_docs;
