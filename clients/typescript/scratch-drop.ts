import { createMochiClient, ConnectError } from "./src/index.js";
const client = createMochiClient(process.env["MOCHI_DROPPABLE_TARGET"]!);
const { session } = await client.sessions.createSession({ model: "llama3.2:latest" });
const message = Array.from({ length: 30 }, (_, i) => `word${i}`).join(" ");
let n = 0;
try {
  for await (const e of client.chat.chatStream({ sessionId: session!.sessionId, message, continueOnDisconnect: true }, { onHeader: (h) => console.log("header", [...h.entries()]) })) {
    console.log(e.eventId, e.event.case);
    if (++n === 3) process.kill(Number(process.env["MOCHI_DROPPABLE_PID"]), "SIGUSR1");
  }
} catch (error) {
  const e = error as ConnectError;
  console.log("ERR", e.code, e.name, e.message, (e.cause as Error | undefined)?.message, (e.cause as {code?: string} | undefined)?.code);
}
try {
  const { session: s2 } = await client.sessions.getSession({ sessionId: session!.sessionId });
  console.log("after", s2?.activeTurnId);
  for await (const e of client.chat.watchTurn({ sessionId: session!.sessionId }, { onHeader: (h) => console.log("header", [...h.entries()]) })) {
    console.log(e.eventId, e.event.case, e.event.case === "contentDelta" ? e.event.value.content : "");
  }
} catch (error) { console.log("ERR2", error); }
client.close();
