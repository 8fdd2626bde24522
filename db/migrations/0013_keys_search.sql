-- Keys list searches read indexes instead of every key (server/keys/list-keys.ts). pg_trgm ships with
-- PostgreSQL's contrib and with PGlite (loaded by db/client.ts); it is a trusted extension, so a database owner
-- may create it. A label substring reads the trigram index on lower(label), a public-key prefix the
-- text_pattern_ops btree (LIKE 'abc%' whatever the collation), a curve filter its btree.
CREATE EXTENSION IF NOT EXISTS pg_trgm;--> statement-breakpoint
CREATE INDEX "keys_label_trgm_idx" ON "keys" USING gin (lower("label") gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "keys_public_key_prefix_idx" ON "keys" USING btree ("public_key" text_pattern_ops);--> statement-breakpoint
CREATE INDEX "keys_curve_idx" ON "keys" USING btree ("curve");