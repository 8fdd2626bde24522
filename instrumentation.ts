// Next.js calls register() once per server start. Boot work runs only in the Node.js runtime; a boot that
// fails ends the process (Next would otherwise log the error and keep serving).
export async function register() {
  // NEXT_RUNTIME is set by Next itself, not configuration; this is the documented way to pick the runtime.
  if (process.env.NEXT_RUNTIME === "nodejs") {
    const { bootOrExit } = await import("./server/boot");
    await bootOrExit();
  }
}
