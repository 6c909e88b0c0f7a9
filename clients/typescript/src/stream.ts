/**
 * A turn's events as one async iterable, whatever happens to the connection.
 *
 * ChatStream and WatchTurn send the turn's id as the initial metadata
 * "mochi-turn-id", and every event has an event_id. A turn started with
 * continue_on_disconnect runs on when the connection drops, so the stream
 * that lost it asks WatchTurn for the events after the last one it saw and
 * goes on: the loop reading it sees every event once and the deltas without a
 * gap. Without continue_on_disconnect the turn stopped with the connection,
 * and the stream throws.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { type CallOptions, type Client, Code, ConnectError } from "@connectrpc/connect";
import {
  type ChatEvent,
  type ChatService,
  ChatStreamRequestSchema,
} from "./gen/mochi/v1/chat_service_pb.js";

/** What ChatStream takes: `{ sessionId, message?, think?, continueOnDisconnect? }`. */
export type ChatStreamInit = MessageInitShape<typeof ChatStreamRequestSchema>;

/**
 * One event of a streamed turn, discriminated by `case`
 * ("contentDelta", "messageComplete", "done", "error", "toolCall", ...),
 * with its `eventId`.
 */
export type ChatStreamEvent = Exclude<ChatEvent["event"], { case: undefined }> & {
  /** Opaque; pass the last one seen to watchTurn as afterEventId to get the rest. */
  readonly eventId: string;
};

/** The names of the event cases. */
export type ChatStreamEventCase = ChatStreamEvent["case"];

export interface ChatStreamOptions {
  /** Aborting it cancels the RPC; the iteration then throws a CANCELED ConnectError. */
  readonly signal?: AbortSignal;
  /** A deadline for the whole turn, in milliseconds. */
  readonly timeoutMs?: number;
}

export interface WatchTurnOptions extends ChatStreamOptions {
  /** The turn to watch; absent = the turn of afterEventId, else the running turn, else the latest. */
  readonly turnId?: string | undefined;
  /** Only the events after this one (of the same turn); absent = from the turn's first event. */
  readonly afterEventId?: string | undefined;
}

/** The events of one turn; also knows the turn's id. */
export interface ChatStream extends AsyncGenerator<ChatStreamEvent, void, undefined> {
  /** The turn's id ("mochi-turn-id"); undefined until the server has accepted the call. */
  readonly turnId: string | undefined;
}

/** The initial metadata that names the turn. */
export const TURN_ID_HEADER = "mochi-turn-id";

// A dropped connection is usually back at once (a proxy or load balancer
// restarting, a network hand-over). Four tries, 0.1 s apart and doubling
// (1.5 s in all), before the caller hears the server is gone; the count
// starts again after each try that brought an event.
const RESUME_ATTEMPTS = 4;
const RESUME_FIRST_DELAY_MS = 100;

/**
 * Runs ChatStream and yields its events as they arrive.
 *
 * The RPC is cancelled as soon as the consumer stops early (`break`,
 * `return()`, or an exception in its loop body) or the given signal aborts;
 * the server then stops the model and stores the partial reply with
 * partial_reason "cancelled" — unless the request has continueOnDisconnect:
 * then the turn runs on (stop it with CancelTurn), and a dropped connection
 * is resumed with WatchTurn. Events of a kind this client does not know
 * (a newer server) are skipped.
 */
export function streamChat(
  chat: Client<typeof ChatService>,
  request: ChatStreamInit,
  options: ChatStreamOptions = {},
): ChatStream {
  return followTurn(
    chat,
    request.sessionId ?? "",
    (call) => chat.chatStream(request, call),
    request.continueOnDisconnect === true,
    options,
  );
}

/**
 * Runs WatchTurn: the turn's events after `afterEventId` (all of them
 * without), then the live ones until the turn ends. Watching never stops the
 * turn; a dropped connection is resumed after the last event seen.
 */
export function watchTurn(
  chat: Client<typeof ChatService>,
  sessionId: string,
  options: WatchTurnOptions = {},
): ChatStream {
  const request = {
    sessionId,
    turnId: options.turnId ?? "",
    afterEventId: options.afterEventId ?? "",
  };
  return followTurn(chat, sessionId, (call) => chat.watchTurn(request, call), true, options);
}

/** Where a stream has got to: what WatchTurn needs to send the rest. */
interface Progress {
  turnId: string | undefined;
  lastEventId: string | undefined;
}

/** Opens one RPC of a turn's events. */
type Open = (call: CallOptions) => AsyncIterable<ChatEvent>;

function followTurn(
  chat: Client<typeof ChatService>,
  sessionId: string,
  open: Open,
  resumable: boolean,
  options: ChatStreamOptions,
): ChatStream {
  const progress: Progress = { turnId: undefined, lastEventId: undefined };
  const rest: Open = (call) =>
    chat.watchTurn(
      { sessionId, turnId: progress.turnId ?? "", afterEventId: progress.lastEventId ?? "" },
      call,
    );
  const events = follow(open, resumable ? rest : undefined, progress, options);
  return Object.defineProperty(events, "turnId", { get: () => progress.turnId }) as ChatStream;
}

async function* follow(
  open: Open,
  rest: Open | undefined,
  progress: Progress,
  options: ChatStreamOptions,
): AsyncGenerator<ChatStreamEvent, void, undefined> {
  const controller = new AbortController();
  const signal =
    options.signal === undefined
      ? controller.signal
      : AbortSignal.any([controller.signal, options.signal]);
  const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
  try {
    let call = open;
    for (let failures = 0; ; failures += 1) {
      const events = call({
        signal,
        onHeader: (headers) => {
          progress.turnId = headers.get(TURN_ID_HEADER) ?? progress.turnId;
        },
        ...(deadline === undefined ? {} : { timeoutMs: Math.max(deadline - Date.now(), 1) }),
      })[Symbol.asyncIterator]();
      let next = await step(events);
      while (!("failure" in next) && next.done !== true) {
        failures = 0;
        const { event, eventId } = next.value;
        progress.lastEventId = eventId || progress.lastEventId;
        if (event.case !== undefined) {
          yield { ...event, eventId };
        }
        next = await step(events);
      }
      if (!("failure" in next)) {
        return;
      }
      const started = progress.turnId !== undefined || progress.lastEventId !== undefined;
      if (
        rest === undefined ||
        !started ||
        signal.aborted ||
        failures >= RESUME_ATTEMPTS ||
        !isDropped(next.failure)
      ) {
        throw next.failure;
      }
      // An abort while waiting makes the next call fail with CANCELED at once.
      await sleep(RESUME_FIRST_DELAY_MS * 2 ** failures, undefined, { signal }).catch(() => {});
      call = rest;
    }
  } finally {
    // Leaving the loop early does not end the RPC by itself; aborting does.
    // After a stream that ended on its own this is a no-op.
    controller.abort();
  }
}

/** The next event of an RPC, or what it failed with. */
async function step(
  events: AsyncIterator<ChatEvent>,
): Promise<IteratorResult<ChatEvent> | { readonly failure: unknown }> {
  try {
    return await events.next();
  } catch (failure) {
    return { failure };
  }
}

/**
 * Whether a call failed because the connection went away rather than
 * because the server said so: UNAVAILABLE, or a stream cut off without a
 * status (connect-node reports a reset connection as CANCELED, ABORTED or
 * INTERNAL, with no "grpc-status" among the error's metadata).
 */
function isDropped(failure: unknown): boolean {
  const error = ConnectError.from(failure);
  const cut = [Code.Canceled, Code.Aborted, Code.Internal].includes(error.code);
  return error.code === Code.Unavailable || (cut && !error.metadata.has("grpc-status"));
}
