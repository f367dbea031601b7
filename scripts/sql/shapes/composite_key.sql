-- Shape "composite_key": a (text, bigint) primary key, as a multi-tenant table keys its
-- rows. Rows are inserted in time order with the tenants interleaved, so the table's
-- physical order is not its key order: a key range is spread over the whole table.
-- psql -v rows=N -f scripts/sql/shapes/composite_key.sql
CREATE TABLE composite_key (
  tenant     text NOT NULL,
  order_id   bigint NOT NULL,
  status     text NOT NULL,
  total      numeric(12,2) NOT NULL,
  placed_at  timestamptz NOT NULL,
  note       text,
  PRIMARY KEY (tenant, order_id)
);
INSERT INTO composite_key
SELECT 'tenant-' || lpad((i % 500)::text, 4, '0'), i,
       (ARRAY['new', 'paid', 'shipped', 'delivered', 'refunded'])[1 + i % 5],
       ((i::bigint * 7919) % 100000) / 100.0,
       timestamptz '2022-01-01 00:00:00+00' + i * interval '2 seconds',
       CASE WHEN i % 3 = 0 THEN NULL ELSE 'note ' || md5(i::text) END
FROM generate_series(1, :rows) AS i;
ANALYZE composite_key;
