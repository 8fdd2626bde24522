ALTER TABLE "operations" ALTER COLUMN "initiator_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "keys" ADD COLUMN "predecessor_id" uuid;--> statement-breakpoint
ALTER TABLE "keys" ADD COLUMN "destroy_after" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "operations" ADD COLUMN "system_initiator" text;--> statement-breakpoint
ALTER TABLE "keys" ADD CONSTRAINT "keys_predecessor_id_keys_id_fk" FOREIGN KEY ("predecessor_id") REFERENCES "public"."keys"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "keys" ADD CONSTRAINT "keys_predecessor_id_unique" UNIQUE("predecessor_id");--> statement-breakpoint
ALTER TABLE "operations" ADD CONSTRAINT "operations_one_initiator" CHECK (("operations"."initiator_id" IS NULL) <> ("operations"."system_initiator" IS NULL));