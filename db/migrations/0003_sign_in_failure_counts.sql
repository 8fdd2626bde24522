CREATE TABLE "sign_in_failure_counts" (
	"credential_id" text NOT NULL,
	"reason" text NOT NULL,
	"minute" timestamp with time zone NOT NULL,
	"attempts" integer NOT NULL,
	CONSTRAINT "sign_in_failure_counts_credential_id_reason_minute_pk" PRIMARY KEY("credential_id","reason","minute")
);
