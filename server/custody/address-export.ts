// The deposit addresses of many keys as CSV (issue 14 item 1): one row per key and chain its curve serves, for
// the keys the keys list's filters select (search, curve, state, tag: server/keys/list-keys.ts keysMatching),
// newest first. Streamed: keys are read 500 at a time by keyset (created_at, id), each batch turned into rows and
// handed to the response before the next is read, so 10,000 keys never sit in memory at once. Every field is
// quoted as RFC 4180 says, and a field a spreadsheet would run as a formula (starting with = + - @, a tab or a
// carriage return: a label such as =HYPERLINK(…)) gets a leading apostrophe, as OWASP's CSV-injection advice says.
import "server-only";
import { and, desc, eq, lt, or, type SQL } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { keys } from "@/db/schema";
import { type KeyFilter, keysMatching } from "@/server/keys/list-keys";
import { addressesOf } from "./addresses";
import type { ChainNetworks } from "./types";

const BATCH = 500;

export const ADDRESS_CSV_HEADER = [
  "key_id",
  "label",
  "curve",
  "state",
  "tags",
  "chain",
  "network",
  "address",
];

/** One CSV field: a would-be formula defused with a leading apostrophe, then quoted when it needs quotes. */
export function csvField(value: string): string {
  const defused = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(defused) || defused !== value ? `"${defused.replace(/"/g, '""')}"` : defused;
}

export function csvLine(fields: readonly string[]): string {
  return `${fields.map(csvField).join(",")}\r\n`;
}

type Row = {
  id: string;
  label: string;
  curve: string;
  state: string;
  tags: string[];
  publicKey: string;
  createdAt: Date;
};

/** The CSV lines of one key: one per address; a key whose stored public key is unreadable gets a line saying so. */
function linesOf(key: Row, networks: ChainNetworks): string {
  const base = [key.id, key.label, key.curve, key.state, key.tags.join(" ")];
  let out = "";
  try {
    for (const a of addressesOf(key, networks)) out += csvLine([...base, a.chain, a.network, a.address]);
  } catch {
    out += csvLine([...base, "", "", "error: the recorded public key is not a valid key of its curve"]);
  }
  return out;
}

/**
 * The CSV of the matching keys' addresses, header first, as a stream of UTF-8 chunks (one per batch of keys).
 * Keys of a curve with no address (P-256) add no line. `onDone` gets the count of keys and lines written.
 */
export function addressCsvStream(
  db: DbOrTx,
  input: {
    filters: KeyFilter;
    networks: ChainNetworks;
    onDone?: (counts: { keys: number; lines: number }) => void;
  },
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const where = keysMatching(input.filters);
  let after: { createdAt: Date; id: string } | null = null;
  let headerSent = false;
  let keyCount = 0;
  let lineCount = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!headerSent) {
        headerSent = true;
        controller.enqueue(encoder.encode(csvLine(ADDRESS_CSV_HEADER)));
        return;
      }
      // Batches that give no line (P-256 keys only) are skipped here: a pull that enqueues nothing is not repeated.
      for (;;) {
        const before: SQL | undefined =
          after === null
            ? undefined
            : or(
                lt(keys.createdAt, after.createdAt),
                and(eq(keys.createdAt, after.createdAt), lt(keys.id, after.id)),
              );
        const rows: Row[] = await db
          .select({
            id: keys.id,
            label: keys.label,
            curve: keys.curve,
            state: keys.state,
            tags: keys.tags,
            publicKey: keys.publicKey,
            createdAt: keys.createdAt,
          })
          .from(keys)
          .where(and(where, before))
          .orderBy(desc(keys.createdAt), desc(keys.id))
          .limit(BATCH);
        const last = rows.at(-1);
        if (last === undefined) {
          input.onDone?.({ keys: keyCount, lines: lineCount });
          controller.close();
          return;
        }
        after = { createdAt: last.createdAt, id: last.id };
        let chunk = "";
        for (const row of rows) {
          const lines = linesOf(row, input.networks);
          keyCount++;
          lineCount += lines === "" ? 0 : lines.split("\r\n").length - 1;
          chunk += lines;
        }
        if (chunk !== "") {
          controller.enqueue(encoder.encode(chunk));
          return;
        }
      }
    },
  });
}
