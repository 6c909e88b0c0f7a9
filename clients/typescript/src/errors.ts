import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";

/** The error domain of every mochi.v1 ErrorInfo. */
export const MOCHI_ERROR_DOMAIN = "mochi.v1";

/** One field at fault, from a google.rpc.BadRequest detail. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** What a failed call says: its gRPC status and the google.rpc.ErrorInfo reason. */
export interface MochiErrorDetails {
  /** The gRPC status code (Connect's Code enum has the gRPC numbers). */
  readonly code: Code;
  /** The gRPC status name, e.g. "NOT_FOUND". */
  readonly status: string;
  /** ErrorInfo.reason, e.g. "SESSION_NOT_FOUND"; undefined when the status has no ErrorInfo. */
  readonly reason: string | undefined;
  /** ErrorInfo.domain ("mochi.v1" for the server's own errors). */
  readonly domain: string | undefined;
  /** ErrorInfo.metadata, e.g. { session_id: "..." }. */
  readonly metadata: Readonly<Record<string, string>>;
  /** The fields named by a google.rpc.BadRequest detail. */
  readonly fieldViolations: readonly FieldViolation[];
  /** The status message, without Connect's "[code]" prefix. */
  readonly message: string;
  /** The error as Connect raised it. */
  readonly cause: ConnectError;
}

/** Converts "NotFound" (Connect's enum key) to "NOT_FOUND" (the gRPC name). */
export function statusName(code: Code): string {
  const key = Code[code] ?? "Unknown";
  return key.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/**
 * Reads the gRPC code, ErrorInfo and BadRequest details of anything a call
 * threw. Errors that are not ConnectErrors (e.g. a TypeError) come back
 * with code UNKNOWN and no reason.
 */
export function readMochiError(error: unknown): MochiErrorDetails {
  const cause = ConnectError.from(error);
  const info = cause.findDetails(ErrorInfoSchema)[0];
  const fieldViolations = cause
    .findDetails(BadRequestSchema)
    .flatMap((badRequest) => badRequest.fieldViolations)
    .map(({ field, description }) => ({ field, description }));
  return {
    code: cause.code,
    status: statusName(cause.code),
    reason: info?.reason,
    domain: info?.domain,
    metadata: { ...(info?.metadata ?? {}) },
    fieldViolations,
    message: cause.rawMessage,
    cause,
  };
}

/** The ErrorInfo reason of a failed call, or undefined when it has none. */
export function errorReason(error: unknown): string | undefined {
  return readMochiError(error).reason;
}
