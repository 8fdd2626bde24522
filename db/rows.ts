// Raw `db.execute` results differ in type between PGlite and node-postgres but both carry `rows`.
import type { SQL } from "drizzle-orm";
import type { z } from "zod";
import type { DbOrTx } from "./client";

/** Runs raw SQL and validates its rows, so callers get typed rows on either engine. */
export async function queryRows<T extends z.ZodType>(db: DbOrTx, query: SQL, row: T): Promise<z.infer<T>[]> {
  const result: unknown = await db.execute(query);
  const rows = result && typeof result === "object" && "rows" in result ? result.rows : undefined;
  if (!Array.isArray(rows)) throw new Error("database returned no rows array");
  return rows.map((r) => row.parse(r));
}
