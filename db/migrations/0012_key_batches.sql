ALTER TABLE "keys" DROP CONSTRAINT "keys_operation_id_unique";--> statement-breakpoint
ALTER TABLE "keys" ADD COLUMN "batch_index" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "operations" ADD COLUMN "progress" jsonb;--> statement-breakpoint
ALTER TABLE "keys" ADD CONSTRAINT "keys_operation_batch_index_unique" UNIQUE("operation_id","batch_index");