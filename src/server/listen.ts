/**
 * Binding the server's address, with every way it can fail turned into a code and a sentence an
 * operator can act on (the port is taken, the user may not bind it, the host is not this
 * machine's), never Node's bare `listen EADDRINUSE` with a stack.
 */
import type { Server } from "node:http";
import { InvalidArgumentError, TidemarkError } from "../errors.js";

export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => reject(listenError(err, port, host));
    server.once("error", failed);
    server.listen(port, host, () => {
      server.off("error", failed);
      resolve();
    });
  });
}

function listenError(err: NodeJS.ErrnoException, port: number, host: string): TidemarkError {
  const address = `${host}:${port}`;
  const context = { host, port };
  switch (err.code) {
    case "EADDRINUSE":
      return new TidemarkError(
        "ADDRESS_IN_USE",
        `${address} is already in use by another process: stop it, or choose another port ` +
          "(--port, or --port 0 for a free one)",
        context,
        err,
      );
    case "EACCES":
    case "EPERM":
      return new TidemarkError(
        "PERMISSION_DENIED",
        `this user may not listen on ${address}` +
          (port < 1024 ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE)" : "") +
          ": choose a port of 1024 or more",
        context,
        err,
      );
    case "EADDRNOTAVAIL":
      return new InvalidArgumentError(
        `${host} is not an address of this machine: choose one it has (127.0.0.1 for loopback)`,
        context,
      );
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new InvalidArgumentError(`the host name ${host} does not resolve`, context);
    default:
      return new TidemarkError(
        "IO_ERROR",
        `could not listen on ${address}: ${err.message}`,
        context,
        err,
      );
  }
}
