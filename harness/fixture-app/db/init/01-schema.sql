-- Fixture schema: the three critical tables of the lending platform, with a few rows.
CREATE TABLE users (
  id          bigserial PRIMARY KEY,
  email       text NOT NULL UNIQUE,
  full_name   text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE loans (
  id          bigserial PRIMARY KEY,
  user_id     bigint NOT NULL REFERENCES users(id),
  principal   numeric(12,2) NOT NULL CHECK (principal > 0),
  rate        numeric(6,4) NOT NULL,
  status      text NOT NULL DEFAULT 'active',
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE payments (
  id          bigserial PRIMARY KEY,
  loan_id     bigint NOT NULL REFERENCES loans(id),
  amount      numeric(12,2) NOT NULL CHECK (amount > 0),
  paid_at     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO users (email, full_name) VALUES
  ('ana@example.test', 'Ana López'),
  ('luis@example.test', 'Luis Pérez'),
  ('maria@example.test', 'María Gómez');
INSERT INTO loans (user_id, principal, rate) VALUES (1, 15000.00, 0.0450), (2, 8000.00, 0.0500), (3, 22000.00, 0.0425);
INSERT INTO payments (loan_id, amount) VALUES (1, 1500.00), (1, 1500.00), (2, 800.00), (3, 2200.00), (3, 2200.00);
