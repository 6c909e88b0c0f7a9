import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import {
  type ChatEvent,
  type ChatService,
  ChatStreamRequestSchema,
} from "./gen/mochi/v1/chat_service_pb.js";

/** What ChatStream takes: `{ sessionId, message?, think? }`. */
export type ChatStreamInit = MessageInitShape<typeof ChatStreamRequestSchema>;

/**
 * One event of a streamed turn, discriminated by `case`
 * ("contentDelta", "messageComplete", "done", "error", "toolCall", ...).
 */
export type ChatStreamEvent = Exclude<ChatEvent["event"], { case: undefined }>;

/** The names of the event cases. */
export type ChatStreamEventCase = ChatStreamEvent["case"];

export interface ChatStreamOptions {
  /** Aborting it cancels the RPC; the iteration then throws a CANCELED ConnectError. */
  readonly signal?: AbortSignal;
  /** A deadline for the whole turn, in milliseconds. */
  readonly timeoutMs?: number;
}

/**
 * Runs ChatStream and yields its events as they arrive.
 *
 * The RPC is cancelled as soon as the consumer stops early (`break`,
 * `return()`, or an exception in its loop body) or the given signal aborts;
 * the server then stops the model and stores the partial reply with
 * partial_reason "cancelled". Events of a kind this client does not know
 * (a newer server) are skipped.
 */
export async function* streamChat(
  chat: Client<typeof ChatService>,
  request: ChatStreamInit,
  options: ChatStreamOptions = {},
): AsyncGenerator<ChatStreamEvent, void, undefined> {
  const controller = new AbortController();
  const signal =
    options.signal === undefined
      ? controller.signal
      : AbortSignal.any([controller.signal, options.signal]);
  try {
    const events = chat.chatStream(request, {
      signal,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
    for await (const { event } of events) {
      if (event.case !== undefined) {
        yield event;
      }
    }
  } finally {
    // Leaving the loop early does not end the RPC by itself; aborting does.
    // After a stream that ended on its own this is a no-op.
    controller.abort();
  }
}
