ALTER TABLE "credentials" RENAME TO "tokens";--> statement-breakpoint
ALTER TABLE "invitations" RENAME COLUMN "token_hash" TO "secret_hash";--> statement-breakpoint
ALTER TABLE "sessions" RENAME COLUMN "credential_id" TO "token_id";--> statement-breakpoint
ALTER TABLE "invitations" DROP CONSTRAINT "invitations_token_hash_unique";--> statement-breakpoint
ALTER TABLE "sessions" DROP CONSTRAINT "sessions_credential_id_credentials_id_fk";
--> statement-breakpoint
ALTER TABLE "tokens" DROP CONSTRAINT "credentials_member_id_members_id_fk";
--> statement-breakpoint
ALTER TABLE "tokens" DROP CONSTRAINT "credentials_revoked_by_members_id_fk";
--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_token_id_tokens_id_fk" FOREIGN KEY ("token_id") REFERENCES "public"."tokens"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tokens" ADD CONSTRAINT "tokens_member_id_members_id_fk" FOREIGN KEY ("member_id") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tokens" ADD CONSTRAINT "tokens_revoked_by_members_id_fk" FOREIGN KEY ("revoked_by") REFERENCES "public"."members"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "invitations" ADD CONSTRAINT "invitations_secret_hash_unique" UNIQUE("secret_hash");