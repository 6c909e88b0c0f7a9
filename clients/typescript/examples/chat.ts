// Streams one reply: npx tsx examples/chat.ts "Hello"
// MOCHI_GRPC_TARGET (default localhost:50051) names the server, MOCHI_MODEL
// the model (default: the first chat model the server lists, named on
// stderr). Ctrl-C stops the reply; the server keeps what was written so far.
// A server that wants a key and TLS: MOCHI_API_KEY, MOCHI_GRPC_TLS_CA_FILE,
// and for mutual TLS MOCHI_GRPC_TLS_CERT_FILE and MOCHI_GRPC_TLS_KEY_FILE
// (createMochiClient reads them).
import {
  createMochiClient,
  DEFAULT_TARGET,
  type MochiClient,
  readMochiError,
} from "../src/index.js";

const message = process.argv.slice(2).join(" ");
if (message === "") {
  console.error('usage: npx tsx examples/chat.ts "your message"');
  process.exit(2);
}

let client: MochiClient;
try {
  client = createMochiClient(process.env["MOCHI_GRPC_TARGET"] ?? DEFAULT_TARGET);
} catch (error) {
  // Settings that do not fit together, or a PEM file it cannot read.
  console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(2);
}
const stop = new AbortController();
process.once("SIGINT", () => stop.abort());

/** MOCHI_MODEL, else the first chat model the server lists. */
async function pickModel(): Promise<string> {
  const chosen = process.env["MOCHI_MODEL"];
  if (chosen !== undefined && chosen !== "") {
    return chosen;
  }
  const { models } = await client.models.listModels({});
  const first = models[0];
  if (first === undefined) {
    throw new Error("the server lists no chat model; set MOCHI_MODEL");
  }
  console.error(`model ${first.name} (set MOCHI_MODEL to choose another)`);
  return first.name;
}

try {
  const model = await pickModel();
  const { session } = await client.sessions.createSession({ model });
  if (session === undefined) {
    throw new Error("the server returned no session");
  }
  const events = client.chatStream(
    { sessionId: session.sessionId, message },
    { signal: stop.signal },
  );
  for await (const event of events) {
    switch (event.case) {
      case "contentDelta":
        process.stdout.write(event.value.content);
        break;
      case "done":
        process.stdout.write("\n");
        break;
      case "error":
        process.stdout.write("\n");
        console.error(`error: ${event.value.code}: ${event.value.message}`);
        process.exitCode = 1;
        break;
    }
  }
} catch (error) {
  if (stop.signal.aborted) {
    console.error("\nstopped");
    process.exitCode = 130;
  } else {
    const { status, reason, message: text } = readMochiError(error);
    console.error(`error: ${status}${reason === undefined ? "" : ` (${reason})`}: ${text}`);
    process.exitCode = 1;
  }
} finally {
  client.close();
}
