// A test signer (server/**/*.test.ts only): the real signer facade, except that createKey calls after the first
// `open` wait until release() is called — to hold a batch between chunks and look at it meanwhile. It lives in
// server/operations because only the executor's code may import the signer (server/hsm/testing/boundary-rules.ts).
import * as signerFacade from "@/server/hsm/signer";
import type { OperationSigner } from "../types";

export function heldSigner(open: number): OperationSigner & { release: () => void } {
  let calls = 0;
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  return {
    ...signerFacade,
    release: () => release(),
    createKey: async (options) => {
      if (++calls > open) await gate;
      return signerFacade.createKey(options);
    },
  };
}
