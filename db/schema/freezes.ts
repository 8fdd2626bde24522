// Freezes of all signing (issue 12 item 6): one tap by an admin or approver freezes at once
// (server/operations/freeze.ts); only a signing.unfreeze operation approved by the quorum lifts it. A row is
// never deleted: lifted ones stay as the history of every freeze, who made it and which operation lifted it.
import { sql } from "drizzle-orm";
import { pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { members, tokens } from "./members";
import { operations } from "./operations";

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

export const signingFreezes = pgTable(
  "signing_freezes",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    frozenAt: ts("frozen_at").notNull(),
    frozenBy: uuid("frozen_by")
      .notNull()
      .references(() => members.id),
    /** The token whose tap froze signing (its assertion was verified with the freeze). */
    tokenId: text("token_id")
      .notNull()
      .references(() => tokens.id),
    /** What the person who froze wrote, shown on every page while the freeze is in force. */
    reason: text("reason"),
    liftedAt: ts("lifted_at"),
    /** The signing.unfreeze operation whose execution lifted it. */
    liftedByOperation: uuid("lifted_by_operation").references(() => operations.id),
  },
  // At most one freeze in force: a unique index over a constant, on the rows not lifted. A second freeze
  // while one is in force (two people at the same instant included) meets this index and is refused.
  (t) => [uniqueIndex("signing_freezes_one_in_force").on(sql`(true)`).where(sql`${t.liftedAt} IS NULL`)],
);

export type SigningFreeze = typeof signingFreezes.$inferSelect;
