/**
 * The `tidemark` command's exit codes (README "Exit codes"), one list so every command uses the
 * same numbers and scripts can tell "it failed" from "it found damage".
 */
export const EXIT = {
  /** Done; verify and repair: nothing damaged (left). */
  OK: 0,
  /** The command could not do its work: an error, printed with its code. */
  ERROR: 1,
  /** Bad usage: an unknown command or option, a missing or malformed argument. */
  USAGE: 2,
  /** Damage found and reported: verify found damage, repair --dry-run found work, import read a
   * torn or garbled source (what was intact was imported, the rest reported by position). */
  DAMAGE: 3,
  /** repair left damage it could not repair (its report says which). */
  UNREPAIRED: 4,
  /** The journal is locked by another process and the command could not go through a server. */
  LOCKED: 5,
} as const;
