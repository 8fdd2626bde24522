CREATE TABLE "allowlist_entries" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"list" text NOT NULL,
	"chain" text NOT NULL,
	"address" text NOT NULL,
	"label" text,
	"added_by" uuid NOT NULL,
	"added_at" timestamp with time zone NOT NULL,
	CONSTRAINT "allowlist_entries_chain" CHECK ("allowlist_entries"."chain" IN ('bitcoin', 'ethereum', 'solana'))
);
--> statement-breakpoint
ALTER TABLE "allowlist_entries" ADD CONSTRAINT "allowlist_entries_added_by_operations_id_fk" FOREIGN KEY ("added_by") REFERENCES "public"."operations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "allowlist_entries_chain_address_list" ON "allowlist_entries" USING btree ("chain","address","list");--> statement-breakpoint
CREATE INDEX "allowlist_entries_list_idx" ON "allowlist_entries" USING btree ("list","chain");