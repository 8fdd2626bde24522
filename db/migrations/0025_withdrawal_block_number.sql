-- The number of the block a withdrawal's transaction was seen in (issue 14, chain reorganisations): Ethereum block
-- number, Bitcoin height, Solana slot, recorded beside its hash so a reorganised-away inclusion can be named in
-- withdrawal.reorged and a confirmation says which block it was. NULL for rows tracked before this migration.
ALTER TABLE "withdrawals" ADD COLUMN "block_number" bigint;