/**
 * Webhook signatures: Ed25519 over `<unix seconds>.<raw body>`, sent as
 * `webhook-signature: t=<seconds>,kid=<key id>,ed25519=<base64url>`; receivers verify with the
 * public key published at `/v1/stream/__ds/jwks.json`. The key pair is made once per journal and
 * kept in its reserved `__ds/keys` stream, so it survives restarts.
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

export class WebhookSigner {
  private constructor(
    readonly kid: string,
    private readonly privateKey: KeyObject,
  ) {}

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
