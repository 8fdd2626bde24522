-- The audit log's RFC 9162 Merkle tree and its signed checkpoints (issue 15). The integrator adds every sealed
-- event as a leaf, in the batch that seals it, and stores each perfect subtree's hash it completes; the
-- checkpointer stores the tree heads the HSM signed. Both are append-only, as the events are.
CREATE TABLE "audit_checkpoints" (
	"size" bigint PRIMARY KEY NOT NULL,
	"root_hash" "bytea" NOT NULL,
	"signed_at" timestamp with time zone NOT NULL,
	"note" text NOT NULL,
	"verifier_key" text NOT NULL,
	CONSTRAINT "audit_checkpoints_shape" CHECK ("audit_checkpoints"."size" > 0 AND octet_length("audit_checkpoints"."root_hash") = 32)
);
--> statement-breakpoint
CREATE TABLE "audit_tree_nodes" (
	"level" smallint NOT NULL,
	"idx" bigint NOT NULL,
	"hash" "bytea" NOT NULL,
	CONSTRAINT "audit_tree_nodes_level_idx_pk" PRIMARY KEY("level","idx"),
	CONSTRAINT "audit_tree_nodes_shape" CHECK ("audit_tree_nodes"."level" BETWEEN 0 AND 62 AND "audit_tree_nodes"."idx" >= 0 AND octet_length("audit_tree_nodes"."hash") = 32)
);
--> statement-breakpoint
CREATE INDEX "audit_checkpoints_signed_at_idx" ON "audit_checkpoints" USING btree ("signed_at");--> statement-breakpoint
CREATE INDEX "audit_events_actor_idx" ON "audit_events" USING btree ("actor","seq");--> statement-breakpoint
CREATE INDEX "audit_events_action_idx" ON "audit_events" USING btree ("action","seq");--> statement-breakpoint
CREATE INDEX "audit_events_at_idx" ON "audit_events" USING btree ("at");--> statement-breakpoint
CREATE OR REPLACE FUNCTION keyward_audit_log_refuse_change() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER audit_tree_nodes_no_update_delete
  BEFORE UPDATE OR DELETE ON audit_tree_nodes
  FOR EACH ROW EXECUTE FUNCTION keyward_audit_log_refuse_change();
--> statement-breakpoint
CREATE TRIGGER audit_tree_nodes_no_truncate
  BEFORE TRUNCATE ON audit_tree_nodes
  FOR EACH STATEMENT EXECUTE FUNCTION keyward_audit_log_refuse_change();
--> statement-breakpoint
CREATE TRIGGER audit_checkpoints_no_update_delete
  BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION keyward_audit_log_refuse_change();
--> statement-breakpoint
CREATE TRIGGER audit_checkpoints_no_truncate
  BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION keyward_audit_log_refuse_change();
