-- Each token's registration attestation (issue 15 items 5-6): the registration response's attestationObject and
-- clientDataJSON, base64url, so the evidence bundle can prove a voter's key was the token's. NULL for tokens
-- registered before this migration.
ALTER TABLE "tokens" ADD COLUMN "attestation_object" text;--> statement-breakpoint
ALTER TABLE "tokens" ADD COLUMN "registration_client_data" text;