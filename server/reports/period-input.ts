// The period a report covers, as the /reports form and the download routes take it: `from` and `to` as UTC
// days (YYYY-MM-DD, midnight UTC) or full ISO 8601 instants, `from` before `to`, at most ten years apart. One
// schema for the form and the routes; routes answer 400 naming the field otherwise.
import { z } from "zod";

const MAX_SPAN_MS = 10 * 366 * 86_400_000;

const instant = z
  .string()
  .max(40)
  .refine(
    (s) => /^\d{4}-\d{2}-\d{2}$/.test(s) || z.string().datetime({ offset: true }).safeParse(s).success,
    {
      message: "a date (YYYY-MM-DD, UTC) or an ISO 8601 time",
    },
  )
  .transform((s) => new Date(/^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T00:00:00.000Z` : s))
  .refine((d) => !Number.isNaN(d.getTime()), { message: "not a real date" });

export const periodInput = z
  .object({ from: instant, to: instant })
  // Object checks run even when a field failed (zod 4): they look only at fields that parsed to dates.
  .refine((p) => !(p.from instanceof Date && p.to instanceof Date) || p.from < p.to, {
    message: "the period must end after it starts",
    path: ["to"],
  })
  .refine(
    (p) =>
      !(p.from instanceof Date && p.to instanceof Date) || p.to.getTime() - p.from.getTime() <= MAX_SPAN_MS,
    { message: "a report covers at most ten years", path: ["to"] },
  );

export type PeriodInput = z.input<typeof periodInput>;
