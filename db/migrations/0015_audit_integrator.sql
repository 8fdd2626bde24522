-- Audit events are written unsequenced in the change's transaction and numbered later, in batches, by one
-- integrator at a time (server/audit/integrate.ts): appends no longer wait on one lock held through commit.
-- `id` is the staging order only (an identity may skip numbers); `seq` stays the gap-free position in the chain.
ALTER TABLE "audit_events" DROP CONSTRAINT "audit_events_pkey";--> statement-breakpoint
ALTER TABLE "audit_events" ALTER COLUMN "seq" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_events" ALTER COLUMN "prev_hash" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_events" ALTER COLUMN "hash" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_events" ADD COLUMN "id" bigint PRIMARY KEY NOT NULL GENERATED ALWAYS AS IDENTITY (sequence name "audit_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1);--> statement-breakpoint
CREATE INDEX "audit_events_staged_idx" ON "audit_events" USING btree ("id") WHERE "audit_events"."seq" IS NULL;--> statement-breakpoint
ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_seq_unique" UNIQUE("seq");--> statement-breakpoint
ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_sealed_together" CHECK (("audit_events"."seq" IS NULL AND "audit_events"."prev_hash" IS NULL AND "audit_events"."hash" IS NULL) OR ("audit_events"."seq" IS NOT NULL AND "audit_events"."prev_hash" IS NOT NULL AND "audit_events"."hash" IS NOT NULL));--> statement-breakpoint
-- Still append-only, with one write allowed per row: the integrator seals a staged event once, filling in seq,
-- prev_hash and hash and nothing else. Every other UPDATE, every DELETE and TRUNCATE is refused as before.
CREATE OR REPLACE FUNCTION keyward_audit_seal_once() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND NEW.seq IS NOT NULL
     AND NEW.id = OLD.id AND NEW.at IS NOT DISTINCT FROM OLD.at AND NEW.actor IS NOT DISTINCT FROM OLD.actor
     AND NEW.action IS NOT DISTINCT FROM OLD.action AND NEW.subject IS NOT DISTINCT FROM OLD.subject
     AND NEW.data IS NOT DISTINCT FROM OLD.data THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;--> statement-breakpoint
DROP TRIGGER "audit_events_no_update_delete" ON "audit_events";--> statement-breakpoint
CREATE TRIGGER audit_events_no_update_delete
  BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION keyward_audit_seal_once();--> statement-breakpoint
-- Every event enters staged: nothing but the integrator gives a row its place in the chain.
CREATE OR REPLACE FUNCTION keyward_audit_insert_staged() RETURNS trigger AS $$
BEGIN
  IF NEW.seq IS NOT NULL OR NEW.prev_hash IS NOT NULL OR NEW.hash IS NOT NULL THEN
    RAISE EXCEPTION 'audit_events: events are written unsequenced; only the integrator numbers them'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;--> statement-breakpoint
CREATE TRIGGER audit_events_insert_staged
  BEFORE INSERT ON audit_events
  FOR EACH ROW EXECUTE FUNCTION keyward_audit_insert_staged();
