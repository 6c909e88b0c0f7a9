export { createMochiClient, DEFAULT_TARGET, type MochiClient } from "./client.js";
export { baseUrlOf, type MochiClientOptions } from "./credentials.js";
export {
  errorReason,
  type FieldViolation,
  MOCHI_ERROR_DOMAIN,
  type MochiErrorDetails,
  readMochiError,
  statusName,
} from "./errors.js";
export {
  type ChatStream,
  type ChatStreamEvent,
  type ChatStreamEventCase,
  type ChatStreamInit,
  type ChatStreamOptions,
  streamChat,
  TURN_ID_HEADER,
  type WatchTurnOptions,
  watchTurn,
} from "./stream.js";
export { Code, ConnectError } from "@connectrpc/connect";
// Every message, enum and service of mochi.v1 (the index `npm run gen` writes).
export * from "./gen/mochi/v1/index.js";
