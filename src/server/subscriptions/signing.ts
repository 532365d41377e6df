/**
 * Webhook signatures: Ed25519 over `<unix seconds>.<raw body>`, sent as
 * `webhook-signature: t=<seconds>,kid=<key id>,ed25519=<base64url>`; receivers verify with the
 * public key published at `/v1/stream/__ds/jwks.json`. The key pair is made when the first
 * webhook subscription needs it (a server without webhooks holds no private key) and kept in the
 * journal's reserved `__ds/keys` stream, so it survives restarts.
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

/** The journal's signing key: loaded if it exists, made on first need otherwise. */
export class WebhookKeys {
  private signer: WebhookSigner | undefined;
  private making: Promise<WebhookSigner> | undefined;

  private constructor(private readonly journal: Journal) {}

  /** Loads the stored key, if there is one; with `needed` (webhooks are configured), makes it. */
  static async open(journal: Journal, needed: boolean): Promise<WebhookKeys> {
    const keys = new WebhookKeys(journal);
    if (journal.list().includes(KEYS_STREAM)) keys.signer = await WebhookSigner.load(journal);
    else if (needed) await keys.ensure();
    return keys;
  }

  /** The signer, if the key exists. */
  get current(): WebhookSigner | undefined {
    return this.signer;
  }

  /** The signer, making and storing the key pair if this journal has none yet. */
  ensure(): Promise<WebhookSigner> {
    if (this.signer !== undefined) return Promise.resolve(this.signer);
    this.making ??= WebhookSigner.load(this.journal).then(
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

  /** The public keys receivers verify with: none before the first webhook subscription. */
  jwks(): { keys: object[] } {
    return this.signer?.jwks() ?? { keys: [] };
  }
}

export class WebhookSigner {
  private constructor(
    readonly kid: string,
    private readonly privateKey: KeyObject,
  ) {}

  /** Reads the key pair from `__ds/keys`, making and storing one if the stream holds none. */
  static async load(journal: Journal): Promise<WebhookSigner> {
    const stream = await journal.stream(KEYS_STREAM);
    let stored: { kid: string; pem: string } | undefined;
    for await (const record of stream.read())
      stored = JSON.parse(Buffer.from(record.payload).toString("utf8"));
    if (stored === undefined) {
      const { privateKey } = generateKeyPairSync("ed25519");
      stored = {
        kid: `ds_${randomBytes(8).toString("hex")}`,
        pem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
      };
      await stream.append(JSON.stringify(stored));
    }
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
