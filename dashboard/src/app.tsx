/**
 * The page: a header with the views and who is signed in, then the view the URL names. With
 * auth on, a request answered 401 shows the sign-in form; the token is kept for this tab only.
 */
import { useEffect, useState } from "preact/hooks";
import type { AuthView } from "../../src/server/admin/wire-types.js";
import { ApiError, api, token } from "./api.js";
import { Loading } from "./components/ui.js";
import { Outboxes } from "./pages/outboxes.js";
import { Overview } from "./pages/overview.js";
import { SignIn } from "./pages/sign-in.js";
import { StreamPage } from "./pages/stream.js";
import { Streams } from "./pages/streams.js";
import { href, type Route, useRoute } from "./router.js";
import { statsFeed } from "./stats-feed.js";

type Session =
  | { state: "checking" }
  | { state: "signed-out"; error?: string }
  | { state: "in"; auth: AuthView };

export function App() {
  const route = useRoute();
  const [session, setSession] = useState<Session>({ state: "checking" });

  async function check(): Promise<void> {
    const had = token.get() !== null;
    try {
      const auth = await api.auth();
      setSession({ state: "in", auth });
      statsFeed.reset();
      statsFeed.start();
    } catch (err) {
      statsFeed.stop();
      if (err instanceof ApiError && err.status === 401) {
        token.set(null);
        setSession({
          state: "signed-out",
          ...(had ? { error: "That token is not known to this server." } : {}),
        });
      } else {
        setSession({
          state: "signed-out",
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
  }

  useEffect(() => {
    void check();
    return token.onUnauthorized(() => {
      statsFeed.stop();
      token.set(null);
      setSession({ state: "signed-out", error: "The server asked for a token again." });
    });
  }, []);

  if (session.state === "checking") return <Loading />;
  if (session.state === "signed-out") {
    return (
      <SignIn
        error={session.error}
        onToken={async (value) => {
          token.set(value);
          await check();
        }}
      />
    );
  }
  return (
    <div class="app">
      <Header
        route={route}
        auth={session.auth}
        onSignOut={() => {
          token.set(null);
          statsFeed.stop();
          setSession({ state: "signed-out" });
        }}
      />
      <main>
        <View route={route} />
      </main>
    </div>
  );
}

function View({ route }: { route: Route }) {
  switch (route.page) {
    case "overview":
      return <Overview />;
    case "streams":
      return <Streams params={route.params} />;
    case "stream":
      return <StreamPage name={route.name} />;
    case "outboxes":
      return <Outboxes name={route.name} />;
  }
}

function Header({
  route,
  auth,
  onSignOut,
}: {
  route: Route;
  auth: AuthView;
  onSignOut: () => void;
}) {
  const tab = route.page === "stream" ? "streams" : route.page;
  const link = (page: string, label: string, to: string) => (
    <a
      class={`nav-link ${tab === page ? "active" : ""}`}
      href={to}
      aria-current={tab === page ? "page" : undefined}
    >
      {label}
    </a>
  );
  return (
    <header class="topbar">
      <a class="brand" href={href.overview()}>
        <img src="./favicon.svg" alt="" width="26" height="26" />
        <span>tidemark</span>
      </a>
      <nav class="nav">
        {link("overview", "Overview", href.overview())}
        {link("streams", "Streams", href.streams())}
        {link("outboxes", "Outboxes", href.outboxes())}
      </nav>
      <div class="spacer" />
      <span class="host mono">{location.host}</span>
      {auth.enabled ? (
        <span class="who">
          <span
            class="who-name"
            title={auth.scopes
              .map((s) => `${s.access} ${s.prefix === "" ? "(every stream)" : s.prefix}`)
              .join("\n")}
          >
            {auth.token}
            {auth.scopes.every((s) => s.access === "read") ? (
              <span class="who-tag">read-only</span>
            ) : null}
          </span>
          <button type="button" class="link-button" onClick={onSignOut}>
            Sign out
          </button>
        </span>
      ) : (
        <span class="who muted small" title="The server runs without auth (loopback only)">
          no auth
        </span>
      )}
    </header>
  );
}
