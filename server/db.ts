// The server process's one database handle, opened (and migrated) on first use from the validated config.
// Kept on globalThis so dev-mode module reloads do not open a second PGlite owner.
import "server-only";
import path from "node:path";
import { type Database, openDatabase } from "@/db/client";
import { env } from "./env";

const holder = globalThis as typeof globalThis & { __keywardDb?: Promise<Database> };

export function database(): Promise<Database> {
  holder.__keywardDb ??= openFromEnv().catch((e: unknown) => {
    holder.__keywardDb = undefined; // let the next request retry after a transient failure
    throw e;
  });
  return holder.__keywardDb;
}

function openFromEnv(): Promise<Database> {
  const config = env();
  return config.databaseUrl
    ? openDatabase({ engine: "postgres", url: config.databaseUrl })
    : openDatabase({ engine: "pglite", folder: path.join(config.dataDir, "pglite") });
}

export async function closeDatabase(): Promise<void> {
  const pending = holder.__keywardDb;
  holder.__keywardDb = undefined;
  if (pending) await (await pending).close();
}
