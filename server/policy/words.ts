// The small pieces reasons and descriptions are written with. Browser-safe, no imports but constants.
import { ROLE_GROUPS } from "./constants";

export const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
export const joinWith = (xs: readonly string[], word: string) =>
  xs.length <= 1 ? (xs[0] ?? "") : `${xs.slice(0, -1).join(", ")} ${word} ${xs[xs.length - 1]}`;
export const joinAnd = (xs: readonly string[]) => joinWith(xs, "and");

/** "approvers" is shown as "the approvers" (everyone holding the role); named groups by their name. */
export function groupLabel(group: string): string {
  return group in ROLE_GROUPS ? `the ${group}` : group;
}

/** "24 h", "7 days" for whole days from 48 h on. */
export function hoursInWords(hours: number): string {
  return hours >= 48 && hours % 24 === 0 ? `${hours / 24} days` : `${hours} h`;
}
