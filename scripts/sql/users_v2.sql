-- The target `users` table in its new shape: renamed columns, a wider numeric, a column
-- computed on the way (display_name, by the demo's --map), a new column with a default.
-- psql -f scripts/sql/users_v2.sql
CREATE TABLE users (
  id            bigint PRIMARY KEY,
  email_address text NOT NULL,
  given_name    text NOT NULL,
  family_name   text NOT NULL,
  signed_up_at  timestamptz NOT NULL,
  balance       numeric(14,2) NOT NULL,
  preferences   jsonb,
  display_name  text,
  migrated_at   timestamptz NOT NULL DEFAULT now()
);
