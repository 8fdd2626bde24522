// The one error configuration parsing throws: it names the variable or file to fix, never a secret's value.
export class ConfigError extends Error {
  override name = "ConfigError";
}
