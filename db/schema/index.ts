export * from "./audit";
export * from "./auth";
export * from "./members";
export * from "./operations";
export * from "./freezes";
export * from "./backups";
export * from "./governance";
export * from "./notifications";
