/**
 * A value fetched now and again every `intervalMs` while the component shows (one request at
 * a time: the next starts after the previous answered), refetched at once when `deps` change.
 */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "./api.js";

export interface Polled<T> {
  data: T | undefined;
  error: ApiError | undefined;
  refresh: () => void;
}

export function usePoll<T>(
  fetcher: () => Promise<T>,
  intervalMs: number,
  deps: unknown[],
): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const generation = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const fetcherRef = useRef(fetcher);
  fetcherRef.current = fetcher;

  const run = useCallback(
    (mine: number) => {
      clearTimeout(timer.current);
      fetcherRef
        .current()
        .then(
          (value) => {
            if (mine !== generation.current) return;
            setData(value);
            setError(undefined);
          },
          (err: unknown) => {
            if (mine !== generation.current) return;
            setError(err instanceof ApiError ? err : new ApiError(0, "INTERNAL", String(err)));
          },
        )
        .finally(() => {
          if (mine === generation.current && intervalMs > 0) {
            timer.current = setTimeout(() => run(mine), intervalMs);
          }
        });
    },
    [intervalMs],
  );

  useEffect(() => {
    // The previous answer stays shown until the new one comes (no flash while filtering).
    run(++generation.current);
    return () => {
      generation.current++;
      clearTimeout(timer.current);
    };
  }, deps);

  // A new chain: an answer still in flight for the old one is dropped.
  const refresh = useCallback(() => run(++generation.current), [run]);
  return { data, error, refresh };
}
