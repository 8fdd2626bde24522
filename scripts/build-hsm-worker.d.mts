// Types of build-hsm-worker.mjs for the TypeScript that calls it (vitest's global setup, the benchmark).
export declare const WORKERS: Readonly<Record<string, string>>;
export declare function buildHsmWorkers(options?: { testing?: boolean }): string[];
