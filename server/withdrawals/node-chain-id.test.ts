import { describe, expect, it } from "vitest";
import { ASK_AGAIN_MS, nodeChainId } from "./node-chain-id";

function node(answers: (number | Error)[]) {
  let asked = 0;
  return {
    get asked() {
      return asked;
    },
    chainId: async () => {
      const next = answers[Math.min(asked, answers.length - 1)];
      asked++;
      if (next instanceof Error) throw next;
      if (next === undefined) throw new Error("no answer");
      return next;
    },
  };
}

describe("nodeChainId", () => {
  it("asks the node once per ASK_AGAIN_MS, and again after it (a node swapped behind the URL is seen)", async () => {
    const client = node([1, 11155111]);
    expect(await nodeChainId(client, 1_000)).toBe(1);
    expect(await nodeChainId(client, 1_000 + ASK_AGAIN_MS - 1)).toBe(1);
    expect(client.asked).toBe(1);
    expect(await nodeChainId(client, 1_000 + ASK_AGAIN_MS)).toBe(11155111);
    expect(client.asked).toBe(2);
  });

  it("keeps no failure: the next proposal asks again", async () => {
    const client = node([new Error("connection refused"), 1]);
    await expect(nodeChainId(client, 5)).rejects.toThrow("connection refused");
    expect(await nodeChainId(client, 6)).toBe(1);
    expect(client.asked).toBe(2);
  });

  it("keeps each client's answer apart, and asks again when the clock runs backwards", async () => {
    const a = node([1]);
    const b = node([5]);
    expect(await nodeChainId(a, 0)).toBe(1);
    expect(await nodeChainId(b, 0)).toBe(5);
    expect(await nodeChainId(a, -10)).toBe(1);
    expect(a.asked).toBe(2);
  });
});
