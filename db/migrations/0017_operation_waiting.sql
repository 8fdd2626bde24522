ALTER TABLE "operations" ADD COLUMN "quorum_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "operations" ADD COLUMN "release_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "operations" ADD COLUMN "hold" text;--> statement-breakpoint
ALTER TABLE "operations" ADD COLUMN "judged_version" integer;--> statement-breakpoint
ALTER TABLE "operations" ADD COLUMN "judged_rule_id" text;--> statement-breakpoint
ALTER TABLE "operations" ADD CONSTRAINT "operations_judged_version_policy_versions_version_fk" FOREIGN KEY ("judged_version") REFERENCES "public"."policy_versions"("version") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "operations_state_release_idx" ON "operations" USING btree ("state","release_at");--> statement-breakpoint
ALTER TABLE "operations" ADD CONSTRAINT "operations_hold_known" CHECK ("operations"."hold" IS NULL OR "operations"."hold" IN ('delay', 'window', 'velocity'));--> statement-breakpoint
ALTER TABLE "operations" ADD CONSTRAINT "operations_waiting_held" CHECK ("operations"."state" <> 'waiting' OR ("operations"."hold" IS NOT NULL AND "operations"."quorum_at" IS NOT NULL));