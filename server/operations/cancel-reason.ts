// The reason given when cancelling an operation: required when an admin cancels one Keyward proposed itself (a
// due rotation has no initiator to cancel it), optional for the initiator's own. Stored with the cancelled
// operation, so it must read as what it is. Browser-safe: the operation page validates with this schema too.
import { z } from "zod";

export const CANCEL_REASON_MAX = 500;

export const cancelReasonSchema = z
  .string()
  .trim()
  .max(CANCEL_REASON_MAX, `the reason can be at most ${CANCEL_REASON_MAX} characters`)
  // No control characters (line breaks included): one line, shown as written.
  .regex(/^[^\p{Cc}]*$/u, "the reason cannot contain control characters or line breaks")
  .transform((s) => (s === "" ? undefined : s));
