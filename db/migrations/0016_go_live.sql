CREATE TABLE "go_live_taps" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"admin_id" uuid NOT NULL,
	"token_id" text NOT NULL,
	"policy_version" integer NOT NULL,
	"policy_digest" text NOT NULL,
	"admin_set_digest" text NOT NULL,
	"nonce" text NOT NULL,
	"assertion" jsonb NOT NULL,
	"tapped_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "installation_live" (
	"id" boolean PRIMARY KEY DEFAULT true NOT NULL,
	"since" timestamp with time zone NOT NULL,
	"policy_version" integer NOT NULL,
	"policy_digest" text NOT NULL,
	"admin_set_digest" text NOT NULL,
	"admins" uuid[] NOT NULL,
	"completed_by" uuid NOT NULL,
	CONSTRAINT "installation_live_one_row" CHECK ("installation_live"."id")
);
--> statement-breakpoint
ALTER TABLE "go_live_taps" ADD CONSTRAINT "go_live_taps_admin_id_members_id_fk" FOREIGN KEY ("admin_id") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "go_live_taps" ADD CONSTRAINT "go_live_taps_token_id_tokens_id_fk" FOREIGN KEY ("token_id") REFERENCES "public"."tokens"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "go_live_taps" ADD CONSTRAINT "go_live_taps_policy_version_policy_versions_version_fk" FOREIGN KEY ("policy_version") REFERENCES "public"."policy_versions"("version") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "installation_live" ADD CONSTRAINT "installation_live_policy_version_policy_versions_version_fk" FOREIGN KEY ("policy_version") REFERENCES "public"."policy_versions"("version") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "installation_live" ADD CONSTRAINT "installation_live_completed_by_members_id_fk" FOREIGN KEY ("completed_by") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "go_live_taps_once" ON "go_live_taps" USING btree ("admin_id","policy_digest","admin_set_digest");--> statement-breakpoint
-- Going live is never undone: the one row of installation_live and every go-live tap are append-only, like the
-- audit trail and policy_versions (migration 0006). Written by hand after drizzle-kit's statements.
CREATE OR REPLACE FUNCTION keyward_go_live_refuse_change() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER installation_live_no_update_delete
  BEFORE UPDATE OR DELETE ON installation_live
  FOR EACH ROW EXECUTE FUNCTION keyward_go_live_refuse_change();
--> statement-breakpoint
CREATE TRIGGER installation_live_no_truncate
  BEFORE TRUNCATE ON installation_live
  FOR EACH STATEMENT EXECUTE FUNCTION keyward_go_live_refuse_change();
--> statement-breakpoint
CREATE TRIGGER go_live_taps_no_update_delete
  BEFORE UPDATE OR DELETE ON go_live_taps
  FOR EACH ROW EXECUTE FUNCTION keyward_go_live_refuse_change();
--> statement-breakpoint
CREATE TRIGGER go_live_taps_no_truncate
  BEFORE TRUNCATE ON go_live_taps
  FOR EACH STATEMENT EXECUTE FUNCTION keyward_go_live_refuse_change();
