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
export * from "./gen/mochi/v1/chat_service_pb.js";
export * from "./gen/mochi/v1/model_service_pb.js";
export * from "./gen/mochi/v1/server_service_pb.js";
export * from "./gen/mochi/v1/session_pb.js";
export * from "./gen/mochi/v1/session_service_pb.js";
export * from "./gen/mochi/v1/system_prompt_service_pb.js";
export * from "./gen/mochi/v1/tool_service_pb.js";
