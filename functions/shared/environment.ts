/** Reads a required environment variable; handlers call this once, at module start. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(`${name} environment variable is not set`);
  }
  return value;
}

/** Reads an optional environment variable, falling back to a default when it is unset or empty. */
export function optionalEnv(name: string, fallback: string): string {
  const value = process.env[name];
  return value === undefined || value === "" ? fallback : value;
}
