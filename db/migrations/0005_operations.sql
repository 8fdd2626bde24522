CREATE TABLE "jobs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"kind" text NOT NULL,
	"run_at" timestamp with time zone NOT NULL,
	"subject" text,
	"payload" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"state" text DEFAULT 'waiting' NOT NULL,
	"locked_until" timestamp with time zone,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "keys" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"operation_id" uuid,
	"label" text NOT NULL,
	"curve" text NOT NULL,
	"tags" text[] DEFAULT '{}'::text[] NOT NULL,
	"state" text NOT NULL,
	"hsm_ref" text NOT NULL,
	"public_key" text NOT NULL,
	"exportable" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"state_changed_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "keys_operation_id_unique" UNIQUE("operation_id"),
	CONSTRAINT "keys_hsm_ref_unique" UNIQUE("hsm_ref")
);
--> statement-breakpoint
CREATE TABLE "operations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"kind" text NOT NULL,
	"payload" jsonb NOT NULL,
	"initiator_id" uuid NOT NULL,
	"state" text NOT NULL,
	"digest" text NOT NULL,
	"policy_version" integer NOT NULL,
	"rule_id" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"decided_at" timestamp with time zone,
	"executing_since" timestamp with time zone,
	"attempts" integer DEFAULT 0 NOT NULL,
	"executed_at" timestamp with time zone,
	"result" jsonb,
	"failure" text,
	CONSTRAINT "operations_digest_unique" UNIQUE("digest")
);
--> statement-breakpoint
CREATE TABLE "policy_versions" (
	"version" integer PRIMARY KEY NOT NULL,
	"document" jsonb NOT NULL,
	"digest" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_by" uuid,
	CONSTRAINT "policy_versions_digest_unique" UNIQUE("digest")
);
--> statement-breakpoint
CREATE TABLE "votes" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"operation_id" uuid NOT NULL,
	"voter_id" uuid NOT NULL,
	"token_id" text NOT NULL,
	"decision" text NOT NULL,
	"challenge" text NOT NULL,
	"assertion" jsonb NOT NULL,
	"cast_at" timestamp with time zone NOT NULL,
	CONSTRAINT "votes_challenge_unique" UNIQUE("challenge"),
	CONSTRAINT "votes_operation_voter_unique" UNIQUE("operation_id","voter_id")
);
--> statement-breakpoint
ALTER TABLE "keys" ADD CONSTRAINT "keys_operation_id_operations_id_fk" FOREIGN KEY ("operation_id") REFERENCES "public"."operations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "operations" ADD CONSTRAINT "operations_initiator_id_members_id_fk" FOREIGN KEY ("initiator_id") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "operations" ADD CONSTRAINT "operations_policy_version_policy_versions_version_fk" FOREIGN KEY ("policy_version") REFERENCES "public"."policy_versions"("version") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "policy_versions" ADD CONSTRAINT "policy_versions_created_by_members_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "votes" ADD CONSTRAINT "votes_operation_id_operations_id_fk" FOREIGN KEY ("operation_id") REFERENCES "public"."operations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "votes" ADD CONSTRAINT "votes_voter_id_members_id_fk" FOREIGN KEY ("voter_id") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "votes" ADD CONSTRAINT "votes_token_id_tokens_id_fk" FOREIGN KEY ("token_id") REFERENCES "public"."tokens"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "jobs_state_run_at_idx" ON "jobs" USING btree ("state","run_at");--> statement-breakpoint
CREATE INDEX "keys_state_idx" ON "keys" USING btree ("state");--> statement-breakpoint
CREATE INDEX "operations_state_expires_idx" ON "operations" USING btree ("state","expires_at");