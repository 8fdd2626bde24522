// Starts the built console like `npm start` does — own data folder, own SoftHSM token — on the e2e port,
// reads the one-time setup code it prints, and hands it to the specs through the environment. Before it, a local
// Ethereum node (scripts/evm-node.mjs: EDR, the EVM inside Hardhat, on 127.0.0.1) that the console broadcasts
// withdrawals to and tracks them on, as it would a real node; specs fund keys and read balances there.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { E2E_PORT } from "../playwright.config";
import { buildHsmWorkers } from "../scripts/build-hsm-worker.mjs";
// @ts-expect-error plain ESM script without type declarations
import { prepareHsm } from "../scripts/prepare-hsm.mjs";

/** The AAGUID Chromium's CDP virtual authenticator reports; the only model the e2e server allows. */
export const VIRTUAL_AAGUID = "01020304-0506-0708-0102-030405060708";

function waitForSetupCode(server: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(
      () => reject(new Error(`server printed no setup code in 60 s:\n${output}`)),
      60_000,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = output.match(/SETUP CODE: ([0-9A-Z-]{19})/);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    server.stdout?.on("data", onData);
    server.stderr?.on("data", (chunk: Buffer) => process.stderr.write(chunk));
    server.on("exit", (code) =>
      reject(new Error(`server exited with ${code} before printing a setup code:\n${output}`)),
    );
  });
}

/** The chain id the e2e EVM node runs: Sepolia's, which is also the console's default (addresses show it). */
export const E2E_CHAIN_ID = 11155111;

/** Starts scripts/evm-node.mjs on a free port and resolves with its URL once it listens. */
function startEvmNode(): Promise<{ node: ChildProcess; url: string }> {
  const node = spawn(
    process.execPath,
    // A block every second on top of each transaction's own, so confirmations keep coming as on a real chain.
    [
      "scripts/evm-node.mjs",
      "--port",
      "0",
      "--json",
      "--chain-id",
      String(E2E_CHAIN_ID),
      "--block-time",
      "1000",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(
      () => reject(new Error(`the EVM node did not start in 60 s:\n${output}`)),
      60_000,
    );
    node.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split("\n").find((l) => l.startsWith("{"));
      if (line) {
        clearTimeout(timer);
        resolve({ node, url: (JSON.parse(line) as { url: string }).url });
      }
    });
    node.stderr?.on("data", (chunk: Buffer) => process.stderr.write(chunk));
    node.on("exit", (code) => reject(new Error(`the EVM node exited with ${code}:\n${output}`)));
  });
}

export default async function globalSetup() {
  // The served console's HSM threads run the worker built into the installation: build it if its sources
  // changed since (`next build` does not), so the suite never meets a stale-build refusal.
  buildHsmWorkers();
  const dataDir = mkdtempSync(path.join(tmpdir(), "keyward-e2e-"));
  // Test-side state that outlives one spec (the admin's token credentials), kept apart from the server's data.
  const stateDir = mkdtempSync(path.join(tmpdir(), "keyward-e2e-state-"));
  // Only PATH: no PIN or secret from the developer's shell may leak into the test token.
  await prepareHsm({
    dataDir,
    tokenLabel: "keyward-e2e",
    env: { PATH: process.env.PATH ?? "" },
    log: () => {},
  });
  const evm = await startEvmNode();
  const server = spawn(
    path.resolve("node_modules/.bin/next"),
    ["start", "-p", String(E2E_PORT), "-H", "127.0.0.1"],
    {
      env: {
        ...process.env,
        KEYWARD_DATA_DIR: dataDir,
        SOFTHSM2_CONF: path.join(dataDir, "softhsm2.conf"),
        KEYWARD_HSM_TOKEN_LABEL: "keyward-e2e",
        KEYWARD_ORIGIN: `http://localhost:${E2E_PORT}`,
        KEYWARD_AAGUID_ALLOWLIST: VIRTUAL_AAGUID,
        // The allow-list needs a chain to a pinned root: Chromium's virtual authenticator signs its attestation
        // certificates with a published test key, pinned here as the test root (never in production).
        KEYWARD_ATTESTATION_ROOTS: path.resolve("e2e/attestation-root-chromium-virtual.pem"),
        NEXT_TELEMETRY_DISABLED: "1",
        // The whole suite signs in from one address, dozens of times a minute; a person needs two requests.
        KEYWARD_RATE_LIMIT_PER_ADDRESS: "200",
        DATABASE_URL: "", // the e2e console always runs on its own PGlite folder
        KEYWARD_ETHEREUM_RPC_URL: evm.url,
        KEYWARD_ETHEREUM_CHAIN_ID: String(E2E_CHAIN_ID),
        // Two blocks, about two seconds on this node: enough to see "so far" become "confirmed".
        KEYWARD_CONFIRMATIONS_ETHEREUM: "2",
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const stop = async () => {
    if (server.exitCode === null && server.signalCode === null) {
      await new Promise<void>((resolve) => {
        server.once("exit", () => resolve());
        server.kill("SIGTERM");
      });
    }
    if (evm.node.exitCode === null && evm.node.signalCode === null) evm.node.kill("SIGTERM");
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    process.env.KEYWARD_E2E_SETUP_CODE = await waitForSetupCode(server);
    process.env.KEYWARD_E2E_STATE_DIR = stateDir;
    process.env.KEYWARD_E2E_EVM_URL = evm.url;
  } catch (e) {
    await stop();
    throw e;
  }
  return stop;
}
