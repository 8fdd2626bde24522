// What the start-up self-check of one HSM token found (unwrap-guard.ts runs it): whether the HSM refuses to
// unwrap a key under the backup KEK in a weaker form than it left. Pure data that crosses postMessage; no
// PKCS#11 here, so the main thread can check a worker's answer without loading the library.

/**
 * - `enforced`: the HSM refused every weaker unwrap and accepted Keyward's own: the user PIN cannot obtain a
 *   plaintext key through the KEK. Wrapped-only keys may be made.
 * - `no-kek`: no backup KEK, so nothing can unwrap a key wrapped here (and nothing can wrap one either).
 * - `not-enforced`: a weaker unwrap succeeded (a KEK made before unwrap templates, or an HSM that ignores
 *   them). Keyward refuses to make wrapped-only keys on this token.
 * - `not-proven`: the check itself could not run to the end (e.g. Keyward's own unwrap was refused), so it
 *   proves nothing; treated as not-enforced.
 */
export type UnwrapGuardState = "enforced" | "no-kek" | "not-enforced" | "not-proven";

export type UnwrapGuard = {
  state: UnwrapGuardState;
  /** CKA_ID of the KEK that was checked. */
  kekId: string | null;
  /** The KEK's CKA_UNWRAP_TEMPLATE as read back, e.g. "CKA_SENSITIVE=true"; empty when it has none. */
  template: string[];
  /** One sentence for the status page and the log: what was tried and what the HSM answered. */
  message: string;
};

/** Whether wrapped-only ("exportable") keys may be made on a token with this result. */
export function allowsWrappedOnly(guard: UnwrapGuard): boolean {
  return guard.state === "enforced" || guard.state === "no-kek";
}

const STATES: ReadonlySet<string> = new Set<UnwrapGuardState>([
  "enforced",
  "no-kek",
  "not-enforced",
  "not-proven",
]);

function isState(value: unknown): value is UnwrapGuardState {
  return typeof value === "string" && STATES.has(value);
}

/** A worker's answer checked field by field; undefined when it is not an UnwrapGuard. */
export function parseUnwrapGuard(value: unknown): UnwrapGuard | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v: Record<string, unknown> = { ...value };
  const template = v.template;
  if (
    !isState(v.state) ||
    !(v.kekId === null || typeof v.kekId === "string") ||
    !Array.isArray(template) ||
    !template.every((t) => typeof t === "string") ||
    typeof v.message !== "string"
  ) {
    return undefined;
  }
  return { state: v.state, kekId: v.kekId, template: template.map(String), message: v.message };
}
