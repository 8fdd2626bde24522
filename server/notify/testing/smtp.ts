// A real SMTP server in the test process (smtp-server), with a user name and password, that parses every message
// it accepts with mailparser. STARTTLS is disabled: smtp-server's built-in certificate has expired, so clients
// connect with ignoreTLS. Plain AUTH without TLS is allowed here only because it never leaves 127.0.0.1.
import type { AddressInfo } from "node:net";
import { type ParsedMail, simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";

export type TestSmtp = {
  url: string;
  mails: ParsedMail[];
  /** Resolves once `n` mails have arrived in all. */
  received: (n: number) => Promise<ParsedMail[]>;
  close: () => Promise<void>;
};

export async function startTestSmtp(user = "keyward", pass = "s3cret-pa55"): Promise<TestSmtp> {
  const mails: ParsedMail[] = [];
  const waiters: { n: number; resolve: (m: ParsedMail[]) => void }[] = [];
  const server = new SMTPServer({
    disabledCommands: ["STARTTLS"],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === user && auth.password === pass) callback(null, { user });
      else callback(new Error("Invalid username or password"));
    },
    onData(stream, _session, callback) {
      simpleParser(stream).then(
        (mail) => {
          mails.push(mail);
          for (const w of [...waiters]) {
            if (mails.length >= w.n) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve([...mails]);
            }
          }
          callback();
        },
        (e: Error) => callback(e),
      );
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://${user}:${pass}@127.0.0.1:${port}`,
    mails,
    received: (n) =>
      mails.length >= n
        ? Promise.resolve([...mails])
        : new Promise((resolve) => waiters.push({ n, resolve })),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
