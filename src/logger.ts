/**
 * Where tidemark says what it did (idle streams deleted, recoveries, outbox trouble, requests):
 * the one logger shape every layer takes. pino's loggers fit it as they are.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

const quiet = () => undefined;

/** The default where no logger is given: says nothing. */
export const SILENT_LOGGER: Logger = { debug: quiet, info: quiet, warn: quiet, error: quiet };
