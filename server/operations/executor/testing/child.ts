// Starting claim-child.ts and killing it with SIGKILL once it printed a given line (kill.integration.test.ts).
import { spawn } from "node:child_process";
import path from "node:path";

export const CLAIM_CHILD = path.resolve("server/operations/executor/testing/claim-child.ts");

/**
 * Runs the child with `stage`, waits for a line starting with `killAt` (or, with a number, that many ms after
 * "ready"), kills it with SIGKILL and resolves with what it printed once it is gone. Rejects if it ends first.
 */
export function runAndKill(
  stage: string,
  killAt: string | number,
  env: Record<string, string>,
): Promise<string[]> {
  const child = spawn(
    process.execPath,
    ["--conditions=react-server", "--import", "tsx", CLAIM_CHILD, stage],
    {
      cwd: path.resolve("."),
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const lines: string[] = [];
  let stderr = "";
  let killed = false;
  const kill = () => {
    if (killed) return;
    killed = true;
    child.kill("SIGKILL");
  };
  return new Promise((resolve, reject) => {
    let buffer = "";
    child.stdout.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        lines.push(line);
        if (typeof killAt === "string" && line.startsWith(killAt)) kill();
        if (typeof killAt === "number" && line === "ready") setTimeout(kill, killAt);
      }
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    child.on("exit", (code, signal) => {
      if (killed && signal === "SIGKILL") resolve(lines);
      else if (typeof killAt === "number" && code === 0) resolve(lines);
      else
        reject(
          new Error(`child ended by itself (code ${code}, signal ${signal}): ${lines.join(" | ")} ${stderr}`),
        );
    });
  });
}
