// The zod schemas of issue 13's rule clauses: chains, assets, amounts, destinations (match), and the time
// window, delay with veto, velocity caps and allow-list (judged after the match). Browser-safe: zod and Intl.
import { z } from "zod";
import { BASE_UNITS_PATTERN, parseBaseUnits } from "./amounts";
import { minutesOf, resolveZone, WEEKDAYS } from "./windows";

export const MAX_OPENINGS = 14;
export const MAX_VELOCITY_CAPS = 8;
export const MAX_ALTERNATIVES = 8;
export const MAX_DELAY_HOURS = 720;
export const MAX_VELOCITY_WINDOW_HOURS = 8784; // a leap year

const text = (max: number) =>
  z
    .string()
    .max(max, `At most ${max} characters`)
    .regex(/^[^\p{Cc}\p{Cf}]*$/u, "No control or formatting characters");

/** A chain as the custody layer names it, e.g. bitcoin, ethereum, ethereum-sepolia. */
export const chainNameSchema = z
  .string()
  .min(1, "Chain names have 1 to 40 characters")
  .max(40, "Chain names have 1 to 40 characters")
  .regex(/^[a-z][a-z0-9-]*$/, "Chains use lower-case letters, digits and dashes, e.g. bitcoin");

/** An asset's symbol on its chain, compared exactly: BTC, ETH, USDC, USDC.e. */
export const assetSymbolSchema = z
  .string()
  .min(1, "Symbols have 1 to 20 characters")
  .max(20, "Symbols have 1 to 20 characters")
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "Symbols use letters, digits, dots, dashes and underscores");

/** An asset is identified by its chain and symbol. */
export const assetRefSchema = z.strictObject({ chain: chainNameSchema, symbol: assetSymbolSchema });

/** Base units as a decimal string (JSON has no bigint, and floats would round): "100000000" is 1 BTC. */
export const baseUnitsSchema = z
  .string()
  .regex(BASE_UNITS_PATTERN, 'Amounts are whole base units written as a decimal string, e.g. "100000000"');

/** An amount tier: at least `atLeast` (inclusive) and below `below` (exclusive), in the rule's one asset. */
export const amountMatchSchema = z
  .strictObject({ atLeast: baseUnitsSchema.optional(), below: baseUnitsSchema.optional() })
  .refine((a) => a.atLeast !== undefined || a.below !== undefined, "Give atLeast, below or both")
  .refine(
    (a) =>
      a.atLeast === undefined || a.below === undefined || parseBaseUnits(a.atLeast) < parseBaseUnits(a.below),
    { message: "atLeast must be below below", path: ["below"] },
  );

/** An allow-list's name, as allowlist.update names them. */
export const allowListNameSchema = z
  .string()
  .min(2, "Allow-list names have 2 to 40 characters")
  .max(40, "Allow-list names have 2 to 40 characters")
  .regex(/^[a-z0-9][a-z0-9-]*$/, "Allow-list names use lower-case letters, digits and dashes");

/** The destination is (or is not) on the named allow-list. */
export const destinationMatchSchema = z.union([
  z.strictObject({ onAllowList: allowListNameSchema }),
  z.strictObject({ notOnAllowList: allowListNameSchema }),
]);

const hhmm = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$/, 'Times are "HH:MM", 00:00 to 24:00');

export const openingSchema = z
  .strictObject({
    days: z
      .array(z.enum(WEEKDAYS))
      .min(1, "List at least one day")
      .max(7)
      .refine((d) => new Set(d).size === d.length, "Each day once"),
    from: hhmm,
    to: hhmm,
  })
  .refine((o) => minutesOf(o.from) < minutesOf(o.to), {
    message: "from must be before to (split a window over midnight in two)",
    path: ["to"],
  });

/** A named IANA zone Intl knows, spelled as Intl spells it (so one zone has one spelling in documents). */
export const timeZoneSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z][A-Za-z0-9_+\-/]*$/, "A named time zone, e.g. Europe/Zurich")
  .superRefine((zone, ctx) => {
    const resolved = resolveZone(zone);
    if (resolved === null) ctx.addIssue({ code: "custom", message: `Unknown time zone ${zone}` });
    else if (resolved !== zone && resolved.toLowerCase() === zone.toLowerCase())
      ctx.addIssue({ code: "custom", message: `Write the time zone as ${resolved}` });
  });

/** When the rule lets operations run, in wall time of a named zone; outside it they are deferred or denied. */
export const windowSchema = z.strictObject({
  zone: timeZoneSchema,
  open: z.array(openingSchema).min(1, "List at least one opening").max(MAX_OPENINGS),
  outside: z.enum(["defer", "deny"]),
  /** Shown in reasons: "no withdrawals on weekends". */
  reason: text(200).min(1).optional(),
});

/** Between quorum and execution: `hours` during which one member of `vetoGroup` can stop the operation. */
export const delaySchema = z.strictObject({
  hours: z.int().min(1, "A delay lasts at least 1 h").max(MAX_DELAY_HOURS),
  vetoGroup: z
    .string()
    .min(2)
    .max(40)
    .regex(/^[a-z0-9][a-z0-9-]*$/, "Group names use lower-case letters, digits and dashes, e.g. security"),
});

export const velocityCapSchema = z.strictObject({
  per: z.enum(["key", "chain", "asset"]),
  asset: assetRefSchema,
  limit: baseUnitsSchema,
  windowHours: z.int().min(1).max(MAX_VELOCITY_WINDOW_HOURS),
  over: z.enum(["deny", "defer"]),
});
