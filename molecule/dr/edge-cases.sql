-- Data a rebuild must bring back exactly (scenario dr): every kind of value that a dump, a
-- restore or a checksum could get subtly wrong.
BEGIN;
CREATE ROLE dr_reportes NOLOGIN;
CREATE SCHEMA "Cobranza 2026";
CREATE TABLE "Cobranza 2026"."Pagos ""raros"" ñ" (
  id bigserial PRIMARY KEY,
  cliente text,
  monto numeric(20, 6),
  tasa numeric,
  nota text,
  recibo bytea,
  pagado_en timestamptz,
  vence date,
  extra jsonb,
  activo boolean
);
INSERT INTO "Cobranza 2026"."Pagos ""raros"" ñ" (cliente, monto, tasa, nota, recibo, pagado_en, vence, extra, activo)
SELECT
  CASE i % 4 WHEN 0 THEN 'Peña Núñez ' || i WHEN 1 THEN 'Zoë «comillas» "dobles" ' || i
                WHEN 2 THEN E'tab\tnueva\nlínea 💸 ' || i ELSE NULL END,
  CASE WHEN i % 7 = 0 THEN NULL ELSE (i * 1234.567891)::numeric(20, 6) END,
  CASE i % 3 WHEN 0 THEN 'NaN'::numeric WHEN 1 THEN 0.000000000000000000000001 ELSE 12345678901234567890.123456789 END,
  CASE WHEN i % 5 = 0 THEN '' ELSE 'nota ' || i END,
  CASE WHEN i % 6 = 0 THEN NULL ELSE decode(lpad(to_hex(i), 8, '0') || '00ff00', 'hex') END,
  timestamptz '2026-04-05 01:30:00-06' + i * interval '37 minutes',
  date '2026-10-25' + (i % 30),
  CASE WHEN i % 9 = 0 THEN NULL ELSE jsonb_build_object('i', i, 'ñ', 'sí', 'n', NULL) END,
  CASE i % 3 WHEN 0 THEN NULL ELSE i % 2 = 0 END
FROM generate_series(1, 3000) AS i;
-- A large text (TOASTed, several MB) and a large bytea.
INSERT INTO "Cobranza 2026"."Pagos ""raros"" ñ" (cliente, nota, recibo)
VALUES ('grande', repeat('Crédito ñ 💸 ', 400000), decode(repeat('00ff7f80', 500000), 'hex'));
-- Sequences moved past their rows: the next id must not collide after a rebuild.
SELECT setval(pg_get_serial_sequence('"Cobranza 2026"."Pagos ""raros"" ñ"', 'id'), 900000);
CREATE SEQUENCE public.dr_folio START 1 INCREMENT 7;
SELECT setval('public.dr_folio', 4242);
-- An empty table and a view.
CREATE TABLE public.dr_vacia (id int PRIMARY KEY, nota text);
CREATE VIEW public.dr_resumen AS
  SELECT cliente, count(*) AS pagos, sum(monto) AS total FROM "Cobranza 2026"."Pagos ""raros"" ñ" GROUP BY cliente;
-- A role the app does not create: the grants in the dump name it.
GRANT USAGE ON SCHEMA "Cobranza 2026" TO dr_reportes;
GRANT SELECT ON "Cobranza 2026"."Pagos ""raros"" ñ", public.dr_resumen TO dr_reportes;
COMMIT;
