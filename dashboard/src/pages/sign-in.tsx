/**
 * Sign-in: the server runs with auth, and this tab has no token yet (or the one it had was
 * refused). The token is kept in sessionStorage: for this tab only, gone when it closes.
 */
import { useState } from "preact/hooks";

export function SignIn(props: {
  error: string | undefined;
  onToken: (token: string) => Promise<void>;
}) {
  const [value, setValue] = useState("");
  const [busy, setBusy] = useState(false);
  return (
    <div class="sign-in">
      <form
        class="card sign-in-card"
        onSubmit={async (e) => {
          e.preventDefault();
          if (value.trim() === "") return;
          setBusy(true);
          try {
            await props.onToken(value.trim());
          } finally {
            setBusy(false);
          }
        }}
      >
        <div class="brand big">
          <img src="./favicon.svg" alt="" width="36" height="36" />
          <span>tidemark</span>
        </div>
        <p class="muted">
          This server requires a bearer token. It is kept for this tab only, and the page shows what
          its scopes allow.
        </p>
        <label class="field">
          <span>Token</span>
          <input
            type="password"
            autocomplete="off"
            name="token"
            aria-label="Token"
            value={value}
            onInput={(e) => setValue((e.target as HTMLInputElement).value)}
            autofocus
          />
        </label>
        {props.error === undefined ? null : (
          <div class="notice bad" role="alert">
            {props.error}
          </div>
        )}
        <button type="submit" class="button primary wide" disabled={busy}>
          {busy ? "Checking…" : "Sign in"}
        </button>
      </form>
    </div>
  );
}
