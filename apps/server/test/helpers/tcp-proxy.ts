import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** Stops listening and cuts every connection, as if the service behind it went down. */
  close(): Promise<void>;
}

export interface PostgresProxy extends TcpProxy {
  /**
   * On the next connection whose client sends `marker` (a table's name, say), passes its next
   * COMMIT on to PostgreSQL, which commits, but never its answer: the connection is cut instead,
   * and the client cannot tell whether its transaction was stored.
   */
  loseNextCommitAnswer(marker: string): void;
}

/** Listens on 127.0.0.1:`port` and forwards every connection to `target` (a URL with host and port). */
export async function startTcpProxy(port: number, target: URL, defaultPort: number): Promise<PostgresProxy> {
  const sockets = new Set<Socket>();
  let marker: string | undefined;
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || defaultPort), target.hostname);
    let marked = false;
    let cut = false;
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(socket);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => {
        sockets.delete(socket);
        other.destroy();
      });
      socket.on('data', (chunk: Buffer) => {
        if (cut) return;
        if (socket === client && marker !== undefined) {
          const text = chunk.toString('latin1');
          if (text.includes(marker)) marked = true;
          if (marked && /\bcommit\b/i.test(text)) {
            marker = undefined;
            cut = true;
            upstream.write(chunk);
            // Time for PostgreSQL to commit; its answer is dropped with the connection.
            setTimeout(() => {
              client.destroy();
              upstream.destroy();
            }, 200);
            return;
          }
        }
        other.write(chunk);
      });
    }
  });
  await listen(server, port);
  return {
    loseNextCommitAnswer: (text) => {
      marker = text;
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Listens on 127.0.0.1:`port`, accepts every connection and never answers: a service that hangs. */
export async function startBlackHole(port: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
  });
  await listen(server, port);
  return {
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
}
