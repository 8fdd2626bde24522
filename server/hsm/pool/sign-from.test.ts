// What signFrom "auto" becomes for what a PKCS#11 library reports of itself (C_GetInfo), and that an
// explicit setting is kept whatever the library.
import { describe, expect, it } from "vitest";
import { chooseSignFrom, IN_PROCESS_LIBRARIES, isSignFromSetting } from "./sign-from";

/** C_GetInfo as SoftHSM 2.6.1 answers it here (measured), padding trimmed. */
const softhsm = { manufacturer: "SoftHSM", description: "Implementation of PKCS11", version: "2.6" };
/** p11-kit's proxy module (libp11-kit.so.0) in front of the same SoftHSM token (measured). */
const p11kit = { manufacturer: "PKCS#11 Kit", description: "PKCS#11 Kit Proxy Module", version: "1.1" };
/** A network HSM's client library (its C_SignInit is a round trip). */
const network = { manufacturer: "Example Networks", description: "Network HSM client", version: "7.3" };

describe("chooseSignFrom", () => {
  it("signs from the main thread for SoftHSM, by what the library reports, and says why", () => {
    const choice = chooseSignFrom("auto", softhsm);
    expect(choice.signFrom).toBe("main");
    expect(choice.why).toContain('"SoftHSM"');
    expect(choice.why).toMatch(/^auto: /);
  });

  it.each([
    ["a proxy in front of SoftHSM", p11kit],
    ["a network HSM", network],
    [
      "a library whose manufacturer only starts like SoftHSM's",
      { ...softhsm, manufacturer: "SoftHSM Cloud" },
    ],
    ["SoftHSM's description under another manufacturer", { ...network, description: softhsm.description }],
    ["a library that reports nothing", { manufacturer: "", description: "", version: "0.0" }],
  ])("signs from the threads for %s", (_what, library) => {
    const choice = chooseSignFrom("auto", library);
    expect(choice.signFrom).toBe("threads");
    expect(choice.why).toContain(`"${library.manufacturer}"`);
  });

  it.each(["threads", "main"] as const)("keeps %s when it is set, whatever the library", (setting) => {
    expect(chooseSignFrom(setting, softhsm).signFrom).toBe(setting);
    expect(chooseSignFrom(setting, network).signFrom).toBe(setting);
    expect(chooseSignFrom(setting, softhsm).why).toBe(`"${setting}" was set`);
  });

  it("decides for every listed library by its manufacturer alone", () => {
    for (const { manufacturer } of IN_PROCESS_LIBRARIES)
      expect(chooseSignFrom("auto", { ...network, manufacturer }).signFrom).toBe("main");
  });
});

describe("isSignFromSetting", () => {
  it("knows auto, threads and main, and nothing else", () => {
    expect(["auto", "threads", "main"].every(isSignFromSetting)).toBe(true);
    expect(["Main", "", "worker", undefined, 1].some(isSignFromSetting)).toBe(false);
  });
});
