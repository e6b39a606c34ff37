// Type declarations for wsd-client (wsd-client.js).

export type State = 'connecting' | 'connected' | 'disconnected' | 'closed';

/** A room delivery, as the server sends it. */
export interface Message {
  type: 'message';
  room?: string;
  seq?: number;
  from: string;
  data: unknown;
  id?: string;
  trace?: string;
}

/** Told when a room's messages could not all be recovered. */
export interface Recovery {
  room: string;
  recovered: false;
  /** The room's seq (or the first seq after the gap). */
  seq: number;
  epoch?: string;
  /** The last seq the handler had seen, if any. */
  lastSeen?: number;
  lastEpoch?: string;
  /** Messages known to be missing, when a gap was seen. */
  gap?: number;
}

export interface Subscribed {
  room: string;
  seq: number;
  epoch: string;
  recovered: boolean;
}

export interface PresenceUser {
  user: string;
  info: unknown;
  conns: number;
}

export interface Ack {
  id: string;
  seq: number;
}

/** Any WebSocket class with the browser's API (the `ws` package's in Node). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: any) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketClass = new (url: string, protocols?: string | string[], options?: any) => WebSocketLike;

export interface Options {
  /** A JWT sent as ?token=. */
  token?: string;
  /** Called for the first token, and again when the server refuses one (401). */
  getToken?: () => string | Promise<string>;
  /** The WebSocket class; defaults to globalThis.WebSocket. */
  WebSocket?: WebSocketClass;
  /** Passed as the third argument of the WebSocket constructor (the `ws` package's options). */
  wsOptions?: unknown;
  /** Reconnect delays: a random delay in [0, min(capMs, baseMs * 2^attempt)). */
  backoff?: { baseMs?: number; capMs?: number; maxAttempts?: number };
  /** Publishes and sends that may wait for their ack at once (default 1000); more are refused with code "queue_full". */
  offlineQueue?: number;
  /** How long presence and gap repairs wait (default 10000 ms). */
  requestTimeoutMs?: number;
  /** Connect at once (default true). */
  autoConnect?: boolean;
  /** The random source for jitter and ids (default Math.random). */
  random?: () => number;
  /**
   * 'auto' (default): WebSocket, and Server-Sent Events with POST when
   * nothing has opened yet and the server did not refuse (a proxy that
   * blocks upgrades); the first transport that opens is kept.
   * 'websocket' or 'sse': only that one.
   */
  transport?: 'auto' | 'websocket' | 'sse';
  /** The fetch used by the SSE transport; defaults to globalThis.fetch. */
  fetch?: typeof fetch;
  /** The event stream's URL (default: /sse on the url's host); the url's query is added to it. */
  sseUrl?: string;
}

export class WsdError extends Error {
  /** A close code, an HTTP status, or a wsd error code ("forbidden", "queue_full", ...). */
  code: number | string;
  ref?: string;
  reason?: string;
}

export interface Events {
  state: (state: State, detail: { attempt?: number; code?: number; reason?: string; error?: WsdError; welcome?: unknown; resuming?: boolean }) => void;
  error: (err: WsdError | Error) => void;
  reconnecting: (info: { attempt: number; delayMs: number }) => void;
  resumed: (msg: unknown) => void;
  resume_failed: (info: { reason: string }) => void;
  recovery: (note: Recovery) => void;
  shutdown: (msg: { reconnect_after_ms: number; resume_token: string }) => void;
  flow: (msg: { state: 'pause' | 'resume'; reason?: string }) => void;
  /** Deliveries outside a subscribed room: direct sends, the broadcast room `*`, the personal room. */
  message: (msg: Message) => void;
  /** The transport changed before anything opened ('sse' after a WebSocket that did not open, 'websocket' after SSE did not either). */
  transport: (transport: 'websocket' | 'sse', detail: { code?: number; reason?: string; refused?: number | null }) => void;
  /** Other server messages: pong, join, leave. */
  event: (msg: { type: string; [k: string]: unknown }) => void;
}

/**
 * The SSE transport with the part of the WebSocket interface the client
 * uses: GET /sse read with fetch, client messages POSTed to /sse/send.
 */
export class SseSocket implements WebSocketLike {
  constructor(wsUrl: string, protocol?: string, options?: { fetch?: typeof fetch; sseUrl?: string });
  readonly readyState: number;
  onopen: ((ev: any) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  /** A heartbeat comment arrived. */
  onactivity: (() => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export class WsdClient {
  constructor(url: string, options?: Options);
  readonly url: string;
  readonly state: State;
  /** The transport option as given ('auto' by default). */
  readonly transport: 'auto' | 'websocket' | 'sse';
  readonly session: { id: string; user: string; resumeToken: string; conn?: number } | null;
  connect(): void;
  close(): void;
  subscribe(room: string, handler: (msg: Message) => void, options?: { since?: number; epoch?: string; onRecovery?: (note: Recovery) => void }): Promise<Subscribed>;
  unsubscribe(room: string): void;
  publish(room: string, data: unknown, options?: { id?: string; key?: string; trace?: string }): Promise<Ack>;
  send(user: string, data: unknown, options?: { id?: string; trace?: string }): Promise<Ack>;
  /** Who is in room. For a room being subscribed, sent once its subscribe is answered. */
  presence(room: string): Promise<PresenceUser[]>;
  on<E extends keyof Events>(event: E, fn: Events[E]): this;
  off<E extends keyof Events>(event: E, fn: Events[E]): this;
}

export default WsdClient;
