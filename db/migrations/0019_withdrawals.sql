CREATE TABLE "ethereum_nonces" (
	"key_id" uuid NOT NULL,
	"chain_id" integer NOT NULL,
	"next_nonce" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ethereum_nonces_key_id_chain_id_pk" PRIMARY KEY("key_id","chain_id"),
	CONSTRAINT "ethereum_nonces_non_negative" CHECK ("ethereum_nonces"."next_nonce" >= 0)
);
--> statement-breakpoint
CREATE TABLE "withdrawals" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"operation_id" uuid NOT NULL,
	"chain" text NOT NULL,
	"network" text NOT NULL,
	"key_id" uuid NOT NULL,
	"asset" text NOT NULL,
	"nonce" text,
	"last_valid_block_height" text,
	"unsigned" text NOT NULL,
	"raw" text,
	"txid" text,
	"decoded" jsonb NOT NULL,
	"state" text NOT NULL,
	"confirmations" integer DEFAULT 0 NOT NULL,
	"block" text,
	"reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"signed_at" timestamp with time zone,
	"broadcast_at" timestamp with time zone,
	"confirmed_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "withdrawals_operation_id_unique" UNIQUE("operation_id"),
	CONSTRAINT "withdrawals_signed_has_raw" CHECK ("withdrawals"."state" = 'built' OR ("withdrawals"."raw" IS NOT NULL AND "withdrawals"."txid" IS NOT NULL))
);
--> statement-breakpoint
ALTER TABLE "ethereum_nonces" ADD CONSTRAINT "ethereum_nonces_key_id_keys_id_fk" FOREIGN KEY ("key_id") REFERENCES "public"."keys"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "withdrawals" ADD CONSTRAINT "withdrawals_operation_id_operations_id_fk" FOREIGN KEY ("operation_id") REFERENCES "public"."operations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "withdrawals" ADD CONSTRAINT "withdrawals_key_id_keys_id_fk" FOREIGN KEY ("key_id") REFERENCES "public"."keys"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "withdrawals_state_idx" ON "withdrawals" USING btree ("state");--> statement-breakpoint
CREATE INDEX "withdrawals_key_idx" ON "withdrawals" USING btree ("key_id");--> statement-breakpoint
CREATE INDEX "withdrawals_txid_idx" ON "withdrawals" USING btree ("txid");