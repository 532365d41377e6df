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
import { checkKnownKeys } from "../../options-check.js";
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

export interface Token {
  name: string;
  digest: Buffer;
  scopes: Array<{ prefix: string; access: Access }>;
}

const TOKEN_CHARS_MIN = 32;

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

  /**
   * The token a request presents: throws 401 without one, or with one that is not configured
   * (every configured token is compared, in constant time). Undefined when auth is off.
   */
  authenticate(req: IncomingMessage): Token | undefined {
    if (!this.enabled) return undefined;
    const header = req.headers.authorization;
    const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match === null) {
      throw new TidemarkError("UNAUTHORIZED", "a bearer token is required");
    }
    const presented = secretDigest(match[1]!);
    let token: Token | undefined;
    for (const candidate of this.tokens) {
      if (timingSafeEqual(candidate.digest, presented)) token ??= candidate;
    }
    if (token === undefined) {
      throw new TidemarkError("UNAUTHORIZED", "the bearer token is not known", {
        invalidToken: true,
      });
    }
    return token;
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
    const token = this.authenticate(req);
    if (token === undefined) return OPEN_GRANT;
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

/**
 * Every token checked to its leaves, with the path of what is wrong. A secret must be at least
 * TOKEN_CHARS_MIN characters without whitespace (a bearer header cannot carry whitespace, so such
 * a token could never authenticate: the README's placeholder is refused, not accepted), and no
 * two tokens may share one (the first would win and the second's scopes would be lost).
 */
function validate(config: AuthConfig | undefined): TokenConfig[] {
  if (config === undefined) return [];
  const auth = checkKnownKeys(config, ["tokens"], "auth");
  if (!Array.isArray(auth["tokens"])) {
    throw new InvalidArgumentError(
      "auth must be { tokens: [{ name, token, scopes: [{ prefix, access }] }] }",
      { option: "auth.tokens" },
    );
  }
  const seen = new Map<string, number>();
  return (auth["tokens"] as unknown[]).map((input, i) => {
    const path = `auth.tokens[${i}]`;
    const token = checkKnownKeys(input, ["name", "token", "scopes"], path) as Partial<TokenConfig>;
    if (token.name !== undefined && (typeof token.name !== "string" || token.name.length === 0)) {
      throw new InvalidArgumentError(`${path}.name must be a non-empty string`, {
        option: `${path}.name`,
      });
    }
    const secret = token.token;
    if (typeof secret !== "string" || secret.length < TOKEN_CHARS_MIN || /\s/.test(secret)) {
      throw new InvalidArgumentError(
        `${path}.token must be a string of at least ${TOKEN_CHARS_MIN} characters without ` +
          "whitespace (for instance: openssl rand -hex 32)",
        { option: `${path}.token` },
      );
    }
    const twin = seen.get(secret);
    if (twin !== undefined) {
      throw new InvalidArgumentError(
        `${path}.token is the same secret as auth.tokens[${twin}].token; each token needs its own`,
        { option: `${path}.token` },
      );
    }
    seen.set(secret, i);
    if (!Array.isArray(token.scopes) || token.scopes.length === 0) {
      throw new InvalidArgumentError(`${path}.scopes must list at least one { prefix, access }`, {
        option: `${path}.scopes`,
      });
    }
    for (const [j, input] of token.scopes.entries()) {
      const scopePath = `${path}.scopes[${j}]`;
      const scope = checkKnownKeys(input, ["prefix", "access"], scopePath);
      if (typeof scope["prefix"] !== "string") {
        throw new InvalidArgumentError(
          `${scopePath}.prefix must be a string ("" covers every stream)`,
          { option: `${scopePath}.prefix` },
        );
      }
      if (scope["access"] !== "read" && scope["access"] !== "write") {
        throw new InvalidArgumentError(
          `${scopePath}.access must be 'read' or 'write', got ${JSON.stringify(scope["access"])}`,
          { option: `${scopePath}.access` },
        );
      }
    }
    return token as TokenConfig;
  });
}
