// Checks rendered emails against the caniemail.com data (through @jsx-email/doiuse-email).
// Usage: npm run --silent check -- FILE.html...   Prints one JSON object: file -> result.
import { readFileSync } from "node:fs";
import { doIUseEmail } from "@jsx-email/doiuse-email";

const CLIENTS = ["gmail.*", "apple-mail.*", "outlook.*", "yahoo.*"];
const report = {};
for (const file of process.argv.slice(2)) {
  const result = doIUseEmail(readFileSync(file, "utf8"), { emailClients: CLIENTS });
  report[file] = { success: result.success, errors: result.errors ?? [], notes: result.notes ?? [] };
}
process.stdout.write(JSON.stringify(report, null, 1) + "\n");
