CREATE TABLE "signing_freezes" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"frozen_at" timestamp with time zone NOT NULL,
	"frozen_by" uuid NOT NULL,
	"token_id" text NOT NULL,
	"reason" text,
	"lifted_at" timestamp with time zone,
	"lifted_by_operation" uuid
);
--> statement-breakpoint
ALTER TABLE "signing_freezes" ADD CONSTRAINT "signing_freezes_frozen_by_members_id_fk" FOREIGN KEY ("frozen_by") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "signing_freezes" ADD CONSTRAINT "signing_freezes_token_id_tokens_id_fk" FOREIGN KEY ("token_id") REFERENCES "public"."tokens"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "signing_freezes" ADD CONSTRAINT "signing_freezes_lifted_by_operation_operations_id_fk" FOREIGN KEY ("lifted_by_operation") REFERENCES "public"."operations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "signing_freezes_one_in_force" ON "signing_freezes" USING btree ((true)) WHERE "signing_freezes"."lifted_at" IS NULL;