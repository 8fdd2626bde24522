CREATE TABLE "key_backups" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"key_id" uuid NOT NULL,
	"operation_id" uuid NOT NULL,
	"file" jsonb NOT NULL,
	"digest" text NOT NULL,
	"kek_label" text NOT NULL,
	"kek_id" text NOT NULL,
	"token_label" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "key_backups_operation_id_unique" UNIQUE("operation_id"),
	CONSTRAINT "key_backups_digest_unique" UNIQUE("digest")
);
--> statement-breakpoint
CREATE TABLE "key_restores" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"key_id" uuid NOT NULL,
	"backup_id" uuid NOT NULL,
	"operation_id" uuid NOT NULL,
	"token_label" text NOT NULL,
	"mode" text NOT NULL,
	"proof" jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "key_restores_operation_id_unique" UNIQUE("operation_id")
);
--> statement-breakpoint
ALTER TABLE "keys" ADD COLUMN "last_drill_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "key_backups" ADD CONSTRAINT "key_backups_key_id_keys_id_fk" FOREIGN KEY ("key_id") REFERENCES "public"."keys"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "key_backups" ADD CONSTRAINT "key_backups_operation_id_operations_id_fk" FOREIGN KEY ("operation_id") REFERENCES "public"."operations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "key_restores" ADD CONSTRAINT "key_restores_key_id_keys_id_fk" FOREIGN KEY ("key_id") REFERENCES "public"."keys"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "key_restores" ADD CONSTRAINT "key_restores_backup_id_key_backups_id_fk" FOREIGN KEY ("backup_id") REFERENCES "public"."key_backups"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "key_restores" ADD CONSTRAINT "key_restores_operation_id_operations_id_fk" FOREIGN KEY ("operation_id") REFERENCES "public"."operations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "key_backups_key_idx" ON "key_backups" USING btree ("key_id");--> statement-breakpoint
CREATE INDEX "key_restores_key_idx" ON "key_restores" USING btree ("key_id");