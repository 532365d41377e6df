/**
 * Bearer-token authorization with scopes per stream-path prefix, from the config file:
 *
 *   "auth": { "tokens": [
 *     { "name": "ingest", "token": "…", "scopes": [{ "prefix": "agents/", "access": "write" }] },
 *     { "name": "dash",   "token": "…", "scopes": [{ "prefix": "", "access": "read" }] } ] }
 *
 * `write` includes `read`. A prefix matches stream paths that start with it (`""` is every
 * stream). `/metrics` needs a token with read access to every stream. Tokens are compared in
 * constant time. With no tokens configured, everything is allowed (the server refuses to bind
 * anything but loopback then).
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { InvalidArgumentError, TidemarkError } from "../../errors.js";
import { secretDigest } from "./secrets.js";

export type Access = "read" | "write";

export interface TokenConfig {
  name?: string;
  token: string;
  scopes: Array<{ prefix: string; access: Access }>;
}

export interface AuthConfig {
  tokens: TokenConfig[];
}

interface Token {
  name: string;
  digest: Buffer;
  scopes: Array<{ prefix: string; access: Access }>;
}

const TOKEN_BYTES_MIN = 16;

export class Authorizer {
  private readonly tokens: Token[];

  constructor(config: AuthConfig | undefined) {
    this.tokens = validate(config).map((token, i) => ({
      name: token.name ?? `token ${i + 1}`,
      digest: secretDigest(token.token),
      scopes: token.scopes,
    }));
  }

  get enabled(): boolean {
    return this.tokens.length > 0;
  }

  /** Throws 401 without a known token, 403 when the token's scopes do not cover `path`. */
  check(req: IncomingMessage, access: Access, path: string): void {
    const grant = this.identify(req);
    if (grant.allows(access, path)) return;
    const what = path === "/metrics" ? "metrics" : path === "" ? "every stream" : path;
    throw new TidemarkError("FORBIDDEN", `the token ${grant.name ?? ""} may not ${access} ${what}`);
  }

  /**
   * What the request's token may do: throws 401 without a known token (before anything is
   * looked up, so nothing is revealed); with auth off, everything.
   */
  identify(req: IncomingMessage): Grant {
    if (!this.enabled) return OPEN_GRANT;
    const header = req.headers.authorization;
    const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match === null) {
      throw new TidemarkError("UNAUTHORIZED", "a bearer token is required");
    }
    const presented = secretDigest(match[1]!);
    const token = this.tokens.find((candidate) => timingSafeEqual(candidate.digest, presented));
    if (token === undefined) {
      throw new TidemarkError("UNAUTHORIZED", "the bearer token is not known", {
        invalidToken: true,
      });
    }
    return {
      name: token.name,
      scopes: token.scopes,
      allows: (access, path) => allows(token.scopes, access, path),
    };
  }
}

/** A token's rights, once it is known. */
export interface Grant {
  /** The token's name, or null with auth off. */
  name: string | null;
  scopes: ReadonlyArray<{ prefix: string; access: Access }>;
  /** Whether the token may `access` the stream `path` (`""` or `/metrics`: the whole server). */
  allows(access: Access, path: string): boolean;
}

const OPEN_GRANT: Grant = { name: null, scopes: [], allows: () => true };

function allows(
  scopes: ReadonlyArray<{ prefix: string; access: Access }>,
  access: Access,
  path: string,
): boolean {
  const wholeServer = path === "/metrics" || path === "";
  return scopes.some(
    (scope) =>
      (wholeServer ? scope.prefix === "" : path.startsWith(scope.prefix)) &&
      (scope.access === "write" || access === "read"),
  );
}

function validate(config: AuthConfig | undefined): TokenConfig[] {
  if (config === undefined) return [];
  if (typeof config !== "object" || config === null || !Array.isArray(config.tokens)) {
    throw new InvalidArgumentError(
      "auth must be { tokens: [{ token, scopes: [{ prefix, access }] }] }",
    );
  }
  return config.tokens.map((token, i) => {
    if (typeof token?.token !== "string" || token.token.length < TOKEN_BYTES_MIN) {
      throw new InvalidArgumentError(
        `auth.tokens[${i}].token must be a string of at least ${TOKEN_BYTES_MIN} characters`,
      );
    }
    if (!Array.isArray(token.scopes) || token.scopes.length === 0) {
      throw new InvalidArgumentError(
        `auth.tokens[${i}].scopes must list at least one { prefix, access }`,
      );
    }
    for (const scope of token.scopes) {
      if (
        typeof scope?.prefix !== "string" ||
        (scope.access !== "read" && scope.access !== "write")
      ) {
        throw new InvalidArgumentError(
          `auth.tokens[${i}].scopes: each needs a string prefix and access 'read' or 'write'`,
        );
      }
    }
    return token;
  });
}
