// PGlite has no lock on its data folder and two processes opening one silently lose rows (STACK.md).
// One process owns a folder: it holds <folder>.lock with its pid; a second owner is refused while that pid lives.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";

export class DataFolderInUseError extends Error {
  override name = "DataFolderInUseError";
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Takes the lock or throws DataFolderInUseError. Returns the release function. */
export function lockDataFolder(folder: string): () => void {
  const lockPath = `${folder}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, "wx", 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        try {
          if (readFileSync(lockPath, "utf8") === String(process.pid)) unlinkSync(lockPath);
        } catch {
          // already gone
        }
      };
      process.once("exit", release);
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const owner = Number.parseInt(readFileSync(lockPath, "utf8"), 10);
      if (Number.isInteger(owner) && owner !== process.pid && isAlive(owner)) {
        throw new DataFolderInUseError(
          `The database folder ${folder} is in use by process ${owner}. Stop that Keyward server first (PGlite allows one owner).`,
        );
      }
      unlinkSync(lockPath); // stale lock from a process that died: take it over
    }
  }
  throw new DataFolderInUseError(`Could not lock ${folder}`);
}
