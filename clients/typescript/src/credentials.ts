/**
 * What a client proves and checks: the API key it sends and the TLS it
 * speaks. Each setting is an option of createMochiClient or, unset, the
 * environment variable the HTTP bridge reads too.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { SecureClientSessionOptions } from "node:http2";
import { createSecureContext } from "node:tls";
import type { Interceptor } from "@connectrpc/connect";

/** The settings of createMochiClient; each one left out is read from the environment. */
export interface MochiClientOptions {
  /**
   * The API key's token, sent as `authorization: Bearer <token>` on every
   * call. Default: MOCHI_API_KEY. "" sends none.
   */
  readonly apiKey?: string | undefined;
  /**
   * The CA that signed the server's certificate, a PEM file: with it the
   * connection is TLS. Default: MOCHI_GRPC_TLS_CA_FILE. "" = none: plaintext,
   * unless the target is an https:// URL (then the system's CAs).
   */
  readonly caFile?: string | undefined;
  /** The same CA as PEM text, instead of caFile. */
  readonly ca?: string | Uint8Array | undefined;
  /**
   * The client's certificate chain, a PEM file, for a server that asks for
   * one (mutual TLS); with keyFile, and only over TLS. Default:
   * MOCHI_GRPC_TLS_CERT_FILE (read with MOCHI_GRPC_TLS_KEY_FILE when neither
   * option is given). "" = none.
   */
  readonly certFile?: string | undefined;
  /** The private key of certFile, a PEM file. Default: MOCHI_GRPC_TLS_KEY_FILE. "" = none. */
  readonly keyFile?: string | undefined;
  /**
   * The name the server's certificate must carry when the target's host is
   * not it (e.g. the target is an IP address). Default:
   * MOCHI_GRPC_TLS_SERVER_NAME. "" = the target's host.
   */
  readonly serverName?: string | undefined;
}

/** The environment variables of the settings (the HTTP bridge's names). */
const MOCHI_ENV = {
  apiKey: "MOCHI_API_KEY",
  caFile: "MOCHI_GRPC_TLS_CA_FILE",
  certFile: "MOCHI_GRPC_TLS_CERT_FILE",
  keyFile: "MOCHI_GRPC_TLS_KEY_FILE",
  serverName: "MOCHI_GRPC_TLS_SERVER_NAME",
} as const;

type EnvSetting = keyof typeof MOCHI_ENV;

/** A setting's value and where it came from (an option or a variable), for errors. */
interface Setting {
  readonly value: string;
  readonly name: string;
}

/** How to connect: the base URL, the node:http2 TLS options, the interceptors. */
export interface Connection {
  readonly baseUrl: string;
  readonly nodeOptions: SecureClientSessionOptions | undefined;
  readonly interceptors: Interceptor[];
}

/**
 * Resolves the options against the environment and reads the PEM files.
 * Throws an Error naming the setting when they do not fit together or a file
 * cannot be read: half a TLS setting must not fall back to plaintext.
 */
export function connectionOf(
  target: string,
  options: MochiClientOptions,
  env: NodeJS.ProcessEnv = process.env,
): Connection {
  const apiKey = setting(options, "apiKey", env);
  const [cert, key] = certificateOf(options, env);
  const serverName = setting(options, "serverName", env);
  const ca = caOf(options, env);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(target)?.[1]?.toLowerCase();
  if (ca !== undefined && scheme === "http") {
    throw new Error(
      `${ca.name} is set but the target ${target} is plaintext (http://): ` +
        'give "host:port" or an https:// URL',
    );
  }
  const secure = ca !== undefined || scheme === "https";
  const needsTls = [cert, serverName].find((given) => given !== undefined);
  if (!secure && needsTls !== undefined) {
    throw new Error(
      `${needsTls.name} needs TLS: give the CA that signed the server's certificate ` +
        `(caFile or ${MOCHI_ENV.caFile}) or an https:// target; without either the ` +
        "connection is plaintext",
    );
  }
  const nodeOptions: SecureClientSessionOptions = {
    ...(ca === undefined ? {} : { ca: ca.pem }),
    ...(serverName === undefined ? {} : { servername: serverName.value }),
  };
  if (cert !== undefined && key !== undefined) {
    nodeOptions.cert = pem(cert);
    nodeOptions.key = pem(key);
    checkCertificate(nodeOptions.cert, nodeOptions.key, `${cert.name} and ${key.name}`);
  }
  return {
    baseUrl: baseUrlOf(target, secure),
    nodeOptions: secure ? nodeOptions : undefined,
    interceptors: apiKey === undefined ? [] : [bearer(apiKey.value)],
  };
}

/** "host:port" (gRPC target style: http://, or https:// when `secure`, goes in front) or a URL. */
export function baseUrlOf(target: string, secure = false): string {
  return target.includes("://") ? target : `${secure ? "https" : "http"}://${target}`;
}

/** Sends `authorization: Bearer <token>` unless the call set its own authorization. */
function bearer(token: string): Interceptor {
  const authorization = `Bearer ${token}`;
  return (next) => (request) => {
    if (!request.header.has("authorization")) {
      request.header.set("authorization", authorization);
    }
    return next(request);
  };
}

/** The option if given ("" = none), else its environment variable ("" = unset); trimmed. */
function setting(
  options: MochiClientOptions,
  which: EnvSetting,
  env: NodeJS.ProcessEnv,
): Setting | undefined {
  const given = options[which];
  const name = given === undefined ? MOCHI_ENV[which] : which;
  const trimmed = (given ?? env[name])?.trim() ?? "";
  return trimmed === "" ? undefined : { value: trimmed, name };
}

/**
 * The client certificate and its key: both from the options when either is
 * given, else both from the environment; both or neither.
 */
function certificateOf(
  options: MochiClientOptions,
  env: NodeJS.ProcessEnv,
): [Setting, Setting] | [undefined, undefined] {
  const fromOptions = options.certFile !== undefined || options.keyFile !== undefined;
  const source: MochiClientOptions = fromOptions
    ? { certFile: options.certFile ?? "", keyFile: options.keyFile ?? "" }
    : {};
  const cert = setting(source, "certFile", env);
  const key = setting(source, "keyFile", env);
  if (cert !== undefined && key !== undefined) {
    return [cert, key];
  }
  if (cert === undefined && key === undefined) {
    return [undefined, undefined];
  }
  const [given, missing] =
    cert === undefined
      ? [key!.name, fromOptions ? "certFile" : MOCHI_ENV.certFile]
      : [cert.name, fromOptions ? "keyFile" : MOCHI_ENV.keyFile];
  throw new Error(
    `${given} is set but ${missing} is not: a client certificate needs both PEM files, ` +
      "the certificate chain and its private key",
  );
}

/** The CA: the `ca` option's PEM text, else caFile (option or environment) read. */
function caOf(
  options: MochiClientOptions,
  env: NodeJS.ProcessEnv,
): { pem: Buffer; name: string } | undefined {
  const text = options.ca;
  if (text !== undefined && text.length > 0) {
    if (options.caFile !== undefined && options.caFile !== "") {
      throw new Error("give ca (the PEM text) or caFile (its file), not both");
    }
    return checkedCa(Buffer.from(text), "ca");
  }
  const file = setting(options, "caFile", env);
  return file === undefined ? undefined : checkedCa(pem(file), file.name);
}

/** The CA if it is a certificate (Node takes anything else as no CA: every server refused). */
function checkedCa(ca: Buffer, name: string): { pem: Buffer; name: string } {
  try {
    new X509Certificate(ca); // the first of a bundle
  } catch (error) {
    throw new Error(`${name}: not a PEM certificate: ${messageOf(error)}`, { cause: error });
  }
  return { pem: ca, name };
}

/** Fails now, naming the settings, when a PEM does not parse or the key is not the cert's. */
function checkCertificate(cert: Buffer, key: Buffer, names: string): void {
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new Error(`${names}: not a usable certificate and key: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

/** The content of a PEM file named by a setting. */
function pem(file: Setting): Buffer {
  try {
    return readFileSync(file.value);
  } catch (error) {
    throw new Error(`${file.name}: cannot read ${file.value}: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
