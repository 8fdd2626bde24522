// Where an HsmPool starts its signatures (HsmPoolOptions.signFrom), and what "auto", the default, becomes:
// the main thread for a PKCS#11 library that signs in this process on the CPU, the pool's threads for any
// other. Decided from what the library says of itself (C_GetInfo), never from its file name: a vendor's
// library or a proxy can be installed under any name. Pure: no pkcs11js, no threads.
import "server-only";
import type { LibraryDescription } from "../pkcs11/pkcs11";

/**
 * Libraries whose calls run in this process on the CPU, by C_GetInfo's manufacturerID (spaces trimmed).
 * For them signing from the main thread is the faster path (bench/README.md "Calls in flight": 0.91–1.08×
 * raw pkcs11js on SoftHSM, 0.54–0.88× from the threads) and costs the event loop only microseconds,
 * because C_SignInit runs on it. Any other library may be a network HSM whose C_SignInit is itself a
 * round trip, which must block a worker thread, not the event loop: so only libraries measured here are
 * listed. A proxy is not (p11-kit's reports "PKCS#11 Kit"), even in front of SoftHSM: it may forward
 * anywhere, another host included.
 */
export const IN_PROCESS_LIBRARIES: readonly { manufacturer: string; name: string }[] = [
  { manufacturer: "SoftHSM", name: "SoftHSM 2" },
];

export const SIGN_FROM_SETTINGS = ["auto", "threads", "main"] as const;
export type SignFromSetting = (typeof SIGN_FROM_SETTINGS)[number];
export type SignFrom = Exclude<SignFromSetting, "auto">;
/** What a pool signs from, and why, in words for the boot log. */
export type SignFromChoice = { signFrom: SignFrom; why: string };

export function isSignFromSetting(value: unknown): value is SignFromSetting {
  return SIGN_FROM_SETTINGS.some((setting) => setting === value);
}

/** `library`: C_GetInfo of the token's library, as the pool's first thread read it. */
export function chooseSignFrom(setting: SignFromSetting, library: LibraryDescription): SignFromChoice {
  if (setting !== "auto") return { signFrom: setting, why: `"${setting}" was set` };
  const reported = `the library reports "${library.manufacturer}" ("${library.description}" ${library.version})`;
  const known = IN_PROCESS_LIBRARIES.find((l) => l.manufacturer === library.manufacturer);
  if (known !== undefined) {
    return { signFrom: "main", why: `auto: ${reported}, ${known.name}, which signs in this process` };
  }
  return {
    signFrom: "threads",
    why: `auto: ${reported}, not a library known to sign in this process (it may be a network HSM)`,
  };
}
