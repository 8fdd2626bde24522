// A local webhook receiver (node:http on 127.0.0.1) that keeps every request's headers and raw body and answers
// with the status the test sets.
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

export type Received = { headers: IncomingHttpHeaders; body: string };

export type TestReceiver = {
  url: string;
  requests: Received[];
  /** The status every request is answered with from now on (200 unless set). */
  answer: (status: number) => void;
  close: () => Promise<void>;
};

export async function startTestReceiver(): Promise<TestReceiver> {
  const requests: Received[] = [];
  let status = 200;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(status, { "content-type": "text/plain" }).end(status === 200 ? "ok" : "no");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/keyward`,
    requests,
    answer: (s) => {
      status = s;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
