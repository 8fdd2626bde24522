CREATE TABLE "velocity_buckets" (
	"asset" text NOT NULL,
	"chain" text NOT NULL,
	"key" text NOT NULL,
	"grain" integer NOT NULL,
	"start" timestamp with time zone NOT NULL,
	"units" numeric(78, 0) NOT NULL,
	"entries" integer NOT NULL,
	CONSTRAINT "velocity_buckets_asset_chain_key_grain_start_pk" PRIMARY KEY("asset","chain","key","grain","start"),
	CONSTRAINT "velocity_buckets_grain" CHECK ("velocity_buckets"."grain" IN (1, 60, 3600))
);
--> statement-breakpoint
CREATE TABLE "velocity_ledger" (
	"operation_id" uuid PRIMARY KEY NOT NULL,
	"chain" text NOT NULL,
	"asset" text NOT NULL,
	"key_id" uuid,
	"amount" numeric(78, 0) NOT NULL,
	"executed_at" timestamp with time zone,
	"rolled" boolean DEFAULT false NOT NULL,
	CONSTRAINT "velocity_ledger_chain" CHECK ("velocity_ledger"."chain" IN ('bitcoin', 'ethereum', 'solana'))
);
--> statement-breakpoint
ALTER TABLE "velocity_ledger" ADD CONSTRAINT "velocity_ledger_operation_id_operations_id_fk" FOREIGN KEY ("operation_id") REFERENCES "public"."operations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "velocity_ledger_chain_idx" ON "velocity_ledger" USING btree ("asset","chain","executed_at","amount");--> statement-breakpoint
CREATE INDEX "velocity_ledger_open_idx" ON "velocity_ledger" USING btree ("asset","chain","executed_at") WHERE NOT "velocity_ledger"."rolled";--> statement-breakpoint
-- Hand-added after drizzle-kit: the ledger is written by these triggers only, in the transaction of every change
-- of an operation's state or execution time, whichever code path makes it (transition(), the executor's claim
-- and completion, a re-judgement, a fixture). A withdrawal counts while waiting, approved or executing
-- (executed_at null) and once executed (executed_at set, as the operation's); in any other state its row goes.
-- The facts are the withdrawal kind's (server/operations/kinds/withdrawal.ts facts: chain, asset, amount in base
-- units, keyId), read from the payload the kind's schema validated; a new kind carrying an amount adds its branch.
-- A row rolled up into velocity_buckets (executed, final) never changes: a change of its operation is refused.
CREATE OR REPLACE FUNCTION keyward_velocity_ledger() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND EXISTS (SELECT 1 FROM velocity_ledger WHERE operation_id = NEW.id AND rolled) THEN
    RAISE EXCEPTION 'operation % is counted in the velocity sums as executed at %: its state and execution time cannot change',
      NEW.id, OLD.executed_at USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF NEW.kind = 'withdrawal'
     AND (NEW.state IN ('waiting', 'approved', 'executing')
          OR (NEW.state = 'executed' AND NEW.executed_at IS NOT NULL)) THEN
    INSERT INTO velocity_ledger AS l (operation_id, chain, asset, key_id, amount, executed_at)
    VALUES (
      NEW.id,
      NEW.payload->>'chain',
      NEW.payload->>'asset',
      (NEW.payload->>'keyId')::uuid,
      (NEW.payload->>'amount')::numeric,
      CASE WHEN NEW.state = 'executed' THEN NEW.executed_at END
    )
    ON CONFLICT (operation_id) DO UPDATE
      SET chain = EXCLUDED.chain, asset = EXCLUDED.asset, key_id = EXCLUDED.key_id,
          amount = EXCLUDED.amount, executed_at = EXCLUDED.executed_at
      WHERE l.executed_at IS DISTINCT FROM EXCLUDED.executed_at;
  ELSIF TG_OP = 'UPDATE' THEN
    DELETE FROM velocity_ledger WHERE operation_id = NEW.id;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER operations_velocity_ledger_insert
  AFTER INSERT ON operations
  FOR EACH ROW WHEN (NEW.kind = 'withdrawal')
  EXECUTE FUNCTION keyward_velocity_ledger();
--> statement-breakpoint
CREATE TRIGGER operations_velocity_ledger_update
  AFTER UPDATE ON operations
  FOR EACH ROW WHEN (NEW.kind = 'withdrawal'
    AND (OLD.state IS DISTINCT FROM NEW.state OR OLD.executed_at IS DISTINCT FROM NEW.executed_at))
  EXECUTE FUNCTION keyward_velocity_ledger();
--> statement-breakpoint
-- What already counts when this migration runs: executed amounts straight into their buckets.
INSERT INTO velocity_ledger (operation_id, chain, asset, key_id, amount, executed_at, rolled)
SELECT id, payload->>'chain', payload->>'asset', (payload->>'keyId')::uuid, (payload->>'amount')::numeric,
       CASE WHEN state = 'executed' THEN executed_at END, state = 'executed'
FROM operations
WHERE kind = 'withdrawal'
  AND (state IN ('waiting', 'approved', 'executing') OR (state = 'executed' AND executed_at IS NOT NULL));
--> statement-breakpoint
INSERT INTO velocity_buckets (asset, chain, key, grain, start, units, entries)
SELECT l.asset, l.chain, k.key, g.grain,
  date_bin(make_interval(secs => g.grain), l.executed_at, timestamptz '1970-01-01 00:00:00+00'),
  sum(l.amount), count(*)::int
FROM velocity_ledger l
  CROSS JOIN LATERAL (VALUES (l.key_id::text), ('*'::text)) AS k(key)
  CROSS JOIN (VALUES (1), (60), (3600)) AS g(grain)
WHERE l.rolled AND k.key IS NOT NULL
GROUP BY 1, 2, 3, 4, 5;
