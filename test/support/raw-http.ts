/**
 * HTTP/1.1 as bytes on a TCP socket, for requests no client library would send: repeated
 * headers, raw backslashes, oversized headers, bodies that stall, CONNECT.
 */
import { connect, type Socket } from "node:net";

export interface RawConnection {
  socket: Socket;
  /** Resolves when the server closes the connection (or it fails). */
  closed: Promise<void>;
  isClosed(): boolean;
  received(): string;
  /** The status of the first response, once its status line has arrived. */
  status(): number | undefined;
}

export function rawConnection(port: number, request: string | Buffer): RawConnection {
  const socket = connect(port, "127.0.0.1");
  let received = "";
  let isClosed = false;
  const closed = new Promise<void>((resolve) => {
    socket.on("close", () => {
      isClosed = true;
      resolve();
    });
  });
  socket.on("error", () => undefined);
  socket.on("data", (chunk: Buffer) => {
    received += chunk.toString("latin1");
  });
  socket.write(request);
  return {
    socket,
    closed,
    isClosed: () => isClosed,
    received: () => received,
    status: () => {
      const match = /^HTTP\/1\.1 (\d{3}) /.exec(received);
      return match === null ? undefined : Number(match[1]);
    },
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends one request (`Connection: close` is added) and reads the whole answer. A request the
 * server drops without answering resolves with status 0.
 */
export async function rawRequest(
  port: number,
  head: string,
  body: string | Buffer = "",
): Promise<RawResponse> {
  const bytes = Buffer.concat([
    Buffer.from(`${head}\r\nConnection: close\r\n\r\n`, "latin1"),
    typeof body === "string" ? Buffer.from(body) : body,
  ]);
  const connection = rawConnection(port, bytes);
  await connection.closed;
  return parseResponse(connection.received());
}

export function parseResponse(text: string): RawResponse {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return { status: 0, headers: {}, body: "" };
  const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = text.slice(end + 4);
  if (headers["transfer-encoding"] === "chunked") body = dechunk(body);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine!)?.[1] ?? 0), headers, body };
}

function dechunk(text: string): string {
  let out = "";
  let at = 0;
  for (;;) {
    const line = text.indexOf("\r\n", at);
    if (line < 0) return out;
    const size = Number.parseInt(text.slice(at, line), 16);
    if (!(size > 0)) return out;
    out += text.slice(line + 2, line + 2 + size);
    at = line + 2 + size + 2;
  }
}

/** The error code of a JSON error body, or undefined. */
export function errorCode(response: RawResponse): string | undefined {
  try {
    return (JSON.parse(response.body) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}
