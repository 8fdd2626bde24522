// Where a page of the keys list starts: a token naming the key just before the page ("after" it, reading on
// to older keys) or just after it ("before" it, reading back to newer ones), in the list's order (created_at,
// then id, newest first), or "last" for the oldest keys. The token carries the key's created_at to the
// microsecond (JavaScript's Date keeps milliseconds, and keys made within one millisecond would be skipped or
// repeated) and its id. It is no secret and grants nothing: a made-up one only moves where a page starts, since
// the filters and the access check are the server's; one that does not decode is refused as bad input.
// No Node-only API here: the keys list page (a client module) may import LAST_PAGE.
import { z } from "zod";

export type KeyCursor = { kind: "after" | "before"; at: string; id: string } | { kind: "last" };

/** The token of the last page (the oldest keys). */
export const LAST_PAGE = "last";

/** created_at as the list reads it: UTC, ISO 8601, six fractional digits (list-keys.ts, CURSOR_AT). */
const ISO_MICROSECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** A real instant: the first 23 characters survive a round trip through Date (no 30 February, no hour 24). */
const instant = z
  .string()
  .regex(ISO_MICROSECONDS)
  .refine((t) => {
    const ms = `${t.slice(0, 23)}Z`;
    const date = new Date(ms);
    return !Number.isNaN(date.getTime()) && date.toISOString() === ms;
  });

const position = z.strictObject({ k: z.enum(["a", "b"]), t: instant, i: z.guid() });

function base64url(text: string): string {
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(token: string): string | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  try {
    return atob(token.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    return undefined;
  }
}

export function encodeKeyCursor(kind: "after" | "before", at: string, id: string): string {
  return base64url(JSON.stringify({ k: kind === "after" ? "a" : "b", t: at, i: id }));
}

function decode(token: string): KeyCursor | undefined {
  if (token === LAST_PAGE) return { kind: "last" };
  const text = fromBase64url(token);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = position.safeParse(json);
  if (!parsed.success) return undefined;
  return {
    kind: parsed.data.k === "a" ? "after" : "before",
    at: parsed.data.t,
    id: parsed.data.i.toLowerCase(),
  };
}

/** A page token from the address or a client: decoded, or refused as bad input (never a database error). */
export const keyCursor = z
  .string()
  .max(200)
  .transform((token, ctx): KeyCursor => {
    const cursor = decode(token);
    if (cursor) return cursor;
    ctx.addIssue({
      code: "custom",
      message: "this is not a page of the keys list; open the list's first page again",
    });
    return z.NEVER;
  });
