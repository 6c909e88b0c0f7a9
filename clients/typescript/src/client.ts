import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { connectionOf, type MochiClientOptions } from "./credentials.js";
import { AgentService } from "./gen/mochi/v1/agent_service_pb.js";
import { ChatService } from "./gen/mochi/v1/chat_service_pb.js";
import { ModelService } from "./gen/mochi/v1/model_service_pb.js";
import { ServerService } from "./gen/mochi/v1/server_service_pb.js";
import { SessionService } from "./gen/mochi/v1/session_service_pb.js";
import { SummaryService } from "./gen/mochi/v1/summary_service_pb.js";
import { SystemPromptService } from "./gen/mochi/v1/system_prompt_service_pb.js";
import { ToolService } from "./gen/mochi/v1/tool_service_pb.js";
import {
  type ChatStream,
  type ChatStreamInit,
  type ChatStreamOptions,
  streamChat,
  type WatchTurnOptions,
  watchTurn,
} from "./stream.js";

/** The address of the server when none is given. */
export const DEFAULT_TARGET = "localhost:50051";

/** Typed clients of every mochi.v1 service over one HTTP/2 connection. */
export interface MochiClient {
  readonly sessions: Client<typeof SessionService>;
  readonly chat: Client<typeof ChatService>;
  readonly models: Client<typeof ModelService>;
  readonly server: Client<typeof ServerService>;
  readonly systemPrompts: Client<typeof SystemPromptService>;
  readonly tools: Client<typeof ToolService>;
  readonly agents: Client<typeof AgentService>;
  readonly summaries: Client<typeof SummaryService>;
  /**
   * ChatStream as an async iterable of events that cancels the RPC when left
   * early; with `continueOnDisconnect` it resumes after a dropped connection.
   */
  chatStream(request: ChatStreamInit, options?: ChatStreamOptions): ChatStream;
  /** WatchTurn as an async iterable of events: a turn's events after `afterEventId`, then the live ones. */
  watchTurn(sessionId: string, options?: WatchTurnOptions): ChatStream;
  /** Stops the running turn (the one named, if named) and returns its id once its partial reply is stored. */
  cancelTurn(sessionId: string, turnId?: string): Promise<string>;
  /** Closes the connection; calls still running fail. */
  close(): void;
}

/**
 * Connects (lazily, on the first call) to a mochi-grpc server at `target`.
 *
 * The API key and TLS settings come from `options`, else from the
 * environment (MOCHI_API_KEY, MOCHI_GRPC_TLS_CA_FILE,
 * MOCHI_GRPC_TLS_CERT_FILE, MOCHI_GRPC_TLS_KEY_FILE,
 * MOCHI_GRPC_TLS_SERVER_NAME). A CA makes the connection TLS; the key goes
 * with every call. Throws at once when the settings do not fit together
 * (a certificate without its key, say) or a PEM file cannot be read.
 */
export function createMochiClient(
  target: string = DEFAULT_TARGET,
  options: MochiClientOptions = {},
): MochiClient {
  const { baseUrl, nodeOptions, interceptors } = connectionOf(target, options);
  // The transport ignores its own nodeOptions when given a session manager.
  const sessionManager = new Http2SessionManager(baseUrl, undefined, nodeOptions);
  const transport = createGrpcTransport({ baseUrl, sessionManager, interceptors });
  const chat = createClient(ChatService, transport);
  // Streams stop on close() instead of resuming over a new connection.
  const closed = new AbortController();
  const untilClosed = (signal: AbortSignal | undefined) =>
    signal === undefined ? closed.signal : AbortSignal.any([signal, closed.signal]);
  return {
    sessions: createClient(SessionService, transport),
    chat,
    models: createClient(ModelService, transport),
    server: createClient(ServerService, transport),
    systemPrompts: createClient(SystemPromptService, transport),
    tools: createClient(ToolService, transport),
    agents: createClient(AgentService, transport),
    summaries: createClient(SummaryService, transport),
    chatStream: (request, options = {}) =>
      streamChat(chat, request, { ...options, signal: untilClosed(options.signal) }),
    watchTurn: (sessionId, options = {}) =>
      watchTurn(chat, sessionId, { ...options, signal: untilClosed(options.signal) }),
    cancelTurn: async (sessionId, turnId) =>
      (await chat.cancelTurn({ sessionId, turnId: turnId ?? "" })).turnId,
    close: () => {
      closed.abort();
      sessionManager.abort();
    },
  };
}
