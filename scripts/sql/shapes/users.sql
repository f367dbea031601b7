-- The source `users` table of the demo and the benchmarks, with :rows rows.
-- psql -v rows=N -f scripts/sql/shapes/users.sql
CREATE TABLE users (
  id          bigint PRIMARY KEY,
  email       text NOT NULL,
  first_name  text NOT NULL,
  last_name   text NOT NULL,
  created_at  timestamptz NOT NULL,
  balance     numeric(12,2) NOT NULL DEFAULT 0,
  settings    jsonb
);
INSERT INTO users
SELECT i,
       lower(f.name) || '.' || lower(l.name) || i || '@example.com',
       f.name, l.name,
       timestamptz '2015-01-01 00:00:00+00' + (i::bigint * 271) * interval '1 second',
       round((random() * 10000)::numeric, 2),
       CASE WHEN i % 10 = 0 THEN NULL
            ELSE jsonb_build_object('plan', (ARRAY['free','pro','team'])[1 + i % 3],
                                    'newsletter', i % 2 = 0, 'locale', 'en-' || (i % 7)) END
FROM generate_series(1, :rows) AS i
JOIN LATERAL (SELECT (ARRAY['Ada','Grace','Linus','Edsger','Barbara','Donald','Frances','Ken',
                            'Margaret','Dennis','Radia','Leslie','Anita','Niklaus'])[1 + i % 14]
              AS name) f ON true
JOIN LATERAL (SELECT (ARRAY['Lovelace','Hopper','Torvalds','Dijkstra','Liskov','Knuth','Allen',
                            'Thompson','Hamilton','Ritchie','Perlman','Lamport','Borg','Wirth',
                            'Müller','Ñúñez'])[1 + i % 16] AS name) l ON true;
ANALYZE users;
