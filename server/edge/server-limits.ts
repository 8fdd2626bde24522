// The server process's one set of rate limits, opened on first use from the validated configuration.
// Kept on globalThis for the same reason as the database handle (dev-mode module reloads).
import "server-only";
import { env } from "@/server/env";
import { openRateLimits, type RateLimits } from "./rate-limit";

const holder = globalThis as typeof globalThis & { __keywardRateLimits?: Promise<RateLimits> };

export function serverRateLimits(): Promise<RateLimits> {
  holder.__keywardRateLimits ??= openRateLimits(env()).catch((e: unknown) => {
    holder.__keywardRateLimits = undefined;
    throw e;
  });
  return holder.__keywardRateLimits;
}

export async function closeServerRateLimits(): Promise<void> {
  const pending = holder.__keywardRateLimits;
  holder.__keywardRateLimits = undefined;
  if (pending) await (await pending).close();
}
