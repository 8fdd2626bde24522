// The reason a person may give when freezing all signing: shown on every page while the freeze is in force, so
// it must read as what it is. Browser-safe: the freeze form validates with the same schema as the procedure.
import { z } from "zod";

export const FREEZE_REASON_MAX = 500;

export const freezeReasonSchema = z
  .string()
  .trim()
  .max(FREEZE_REASON_MAX, `the reason can be at most ${FREEZE_REASON_MAX} characters`)
  // No control characters (line breaks included): one line, shown as written.
  .regex(/^[^\p{Cc}]*$/u, "the reason cannot contain control characters or line breaks")
  .transform((s) => (s === "" ? null : s));
