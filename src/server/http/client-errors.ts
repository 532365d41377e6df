/**
 * Answers for requests Node's HTTP parser refuses before any handler sees them, written straight
 * to the socket: oversized headers get 431, a request whose headers (or whole body) took longer
 * than `headersTimeoutMs` (`requestTimeoutMs`) gets 408, anything else malformed 400, and
 * `CONNECT` (which Node hands to a `connect` listener, or drops) gets 405. Each carries the
 * usual JSON error body and closes the connection. A socket whose response has already begun is
 * closed without a word: there is no way to answer twice.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { ErrorCode } from "../../errors.js";
import { HTTP_STATUS } from "./error-answers.js";

const REASONS: Record<number, string> = {
  400: "Bad Request",
  405: "Method Not Allowed",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
};

/** The `clientError` listener of the server. */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const response = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!socket.writable || response?.headersSent === true) {
    socket.destroy();
    return;
  }
  const [code, message]: [ErrorCode, string] =
    err.code === "HPE_HEADER_OVERFLOW"
      ? ["HEADERS_TOO_LARGE", "the request headers are larger than this server accepts"]
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [
            "REQUEST_TIMEOUT",
            "the request took too long to arrive (headersTimeoutMs, requestTimeoutMs)",
          ]
        : ["INVALID_REQUEST", "the request is not well-formed HTTP/1.1"];
  socket.end(rawAnswer(code, message));
}

/** The `connect` listener: CONNECT is not a method of this server. */
export function refuseConnect(_req: IncomingMessage, socket: Duplex): void {
  socket.end(
    rawAnswer("METHOD_NOT_ALLOWED", "CONNECT is not supported here", {
      allow: "GET, HEAD, PUT, POST, DELETE, OPTIONS",
    }),
  );
}

function rawAnswer(code: ErrorCode, message: string, headers: Record<string, string> = {}): string {
  const status = HTTP_STATUS[code];
  const body = JSON.stringify({ error: { code, message } });
  const lines = [
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}`,
    "content-type: application/json",
    `content-length: ${Buffer.byteLength(body)}`,
    "x-content-type-options: nosniff",
    "connection: close",
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  return `${lines.join("\r\n")}\r\n\r\n${body}`;
}
