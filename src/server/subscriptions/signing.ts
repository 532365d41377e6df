/**
 * Webhook signatures: Ed25519 over `<unix seconds>.<raw body>`, sent as
 * `webhook-signature: t=<seconds>,kid=<key id>,ed25519=<base64url>`; receivers verify with the
 * public key published at `/v1/stream/__ds/jwks.json`. The key pair is made when the first
 * webhook subscription needs it (a server without webhooks holds no private key) and kept in the
 * journal's reserved `__ds/keys` stream, so it survives restarts; servers sharing a JetStream
 * store share one key pair, kept in a shared record (docs/jetstream.md), so a wake sent by any
 * of them verifies with the JWKS fetched from any other.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
} from "node:crypto";
import type { Journal } from "../../storage/index.js";

export const KEYS_STREAM = "__ds/keys";

/** A signing key as it is kept: its id and its private key (PKCS #8 PEM). */
export interface StoredKey {
  kid: string;
  pem: string;
}

/** Where the key pair is kept: the journal (one server) or a shared store (all of them). */
export interface KeyKeeper {
  load(): Promise<StoredKey | undefined>;
  /** Keeps `key` unless one is kept already; resolves with the key that is kept. */
  save(key: StoredKey): Promise<StoredKey>;
}

/** The server's signing key: loaded if it exists, made on first need otherwise. */
export class WebhookKeys {
  private signer: WebhookSigner | undefined;
  private making: Promise<WebhookSigner> | undefined;

  private constructor(private readonly keeper: KeyKeeper) {}

  /** Loads the kept key, if there is one; with `needed` (webhooks are configured), makes it. */
  static async open(keeper: KeyKeeper, needed: boolean): Promise<WebhookKeys> {
    const keys = new WebhookKeys(keeper);
    const stored = await keeper.load();
    if (stored !== undefined) keys.signer = WebhookSigner.from(stored);
    else if (needed) await keys.ensure();
    return keys;
  }

  /** The signer, if the key exists. */
  get current(): WebhookSigner | undefined {
    return this.signer;
  }

  /** The signer, making and keeping the key pair if there is none yet (or adopting another's). */
  ensure(): Promise<WebhookSigner> {
    if (this.signer !== undefined) return Promise.resolve(this.signer);
    this.making ??= (async () => {
      const kept = (await this.keeper.load()) ?? (await this.keeper.save(newKey()));
      return WebhookSigner.from(kept);
    })().then(
      (signer) => {
        this.signer = signer;
        return signer;
      },
      (err: unknown) => {
        this.making = undefined;
        throw err;
      },
    );
    return this.making;
  }

  /**
   * The public keys receivers verify with: none before the first webhook subscription. On a
   * shared store another process may have made the key since: it is looked for.
   */
  async jwks(): Promise<{ keys: object[] }> {
    if (this.signer === undefined) {
      const stored = await this.keeper.load();
      if (stored !== undefined) this.signer = WebhookSigner.from(stored);
    }
    return this.signer?.jwks() ?? { keys: [] };
  }
}

/** The key pair in the journal's reserved `__ds/keys` stream (its last record). */
export function journalKeyKeeper(journal: Journal): KeyKeeper {
  const read = async (): Promise<StoredKey | undefined> => {
    if (!journal.list().includes(KEYS_STREAM)) return undefined;
    let stored: StoredKey | undefined;
    for await (const record of (await journal.stream(KEYS_STREAM)).read())
      stored = JSON.parse(Buffer.from(record.payload).toString("utf8")) as StoredKey;
    return stored;
  };
  return {
    load: read,
    save: async (key) => {
      await (await journal.stream(KEYS_STREAM)).append(JSON.stringify(key));
      return key;
    },
  };
}

function newKey(): StoredKey {
  const { privateKey } = generateKeyPairSync("ed25519");
  return {
    kid: `ds_${randomBytes(8).toString("hex")}`,
    pem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
  };
}

export class WebhookSigner {
  private constructor(
    readonly kid: string,
    private readonly privateKey: KeyObject,
  ) {}

  static from(stored: StoredKey): WebhookSigner {
    return new WebhookSigner(stored.kid, createPrivateKey(stored.pem));
  }

  jwks(): { keys: object[] } {
    const jwk = createPublicKey(this.privateKey).export({ format: "jwk" });
    return { keys: [{ ...jwk, kid: this.kid, alg: "EdDSA", use: "sig" }] };
  }

  signatureHeader(rawBody: string, nowMs: number): string {
    const t = Math.floor(nowMs / 1000);
    const signature = sign(null, Buffer.from(`${t}.${rawBody}`), this.privateKey).toString(
      "base64url",
    );
    return `t=${t},kid=${this.kid},ed25519=${signature}`;
  }
}
