/**
 * Event types and schema evolution: how domain events become journal `EventData` (a type name,
 * a schema version and a JSON payload) and back, upcasting old versions on read.
 *
 * An `EventType` has a current schema (version N) and, for each older version k it may meet in
 * the journal, a Schema that decodes a version-k payload straight into today's event
 * (typically `OldSchema.pipe(Schema.decodeTo(CurrentSchema, SchemaTransformation.transform(...)))`).
 * Writes always use the current version; stored events are never rewritten. `EventTypes` is a
 * registry of event types keyed by their `_tag`.
 *
 * @example
 * ```ts
 * import { Schema, SchemaTransformation } from "effect"
 * import { Upcast } from "@mailroom/persistence"
 *
 * class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", {
 *   cents: Schema.Int, currency: Schema.String
 * }) {}
 * // Version 1 stored `amount` in whole euros.
 * const DepositedV1 = Schema.Struct({ _tag: Schema.Literal("Deposited"), amount: Schema.Number }).pipe(
 *   Schema.decodeTo(Deposited, SchemaTransformation.transform({
 *     decode: (v1) => ({ _tag: "Deposited" as const, cents: v1.amount * 100, currency: "EUR" }),
 *     encode: (v2) => ({ _tag: "Deposited" as const, amount: v2.cents / 100 })
 *   })))
 * const events = Upcast.registry(Upcast.eventType("Deposited", Deposited, { version: 2, upcasts: { 1: DepositedV1 } }))
 * ```
 */
import { Effect, Result, Schema } from "effect"
import type { EventData, RecordedEvent } from "./Journal.js"

/** One event type: current schema and version, and decoders for older stored versions. */
export interface EventType<A extends { readonly _tag: string }> {
  readonly name: string
  readonly version: number
  readonly schema: Schema.Codec<A, unknown>
  readonly upcasts: ReadonlyMap<number, Schema.Codec<A, unknown>>
}

/**
 * Declares an event type. `schema` encodes and decodes the current `version` (default 1);
 * `upcasts[k]` decodes a stored version-k payload into the current event.
 */
export const eventType = <A extends { readonly _tag: string }>(
  name: A["_tag"],
  schema: Schema.Codec<A, any>,
  options: {
    readonly version?: number | undefined
    readonly upcasts?: Readonly<Record<number, Schema.Codec<A, any>>> | undefined
  } = {}
): EventType<A> => {
  const version = options.version ?? 1
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new TypeError(`eventType ${name}: version must be an integer >= 1, got ${String(version)}`)
  }
  const upcasts = new Map<number, Schema.Codec<A, unknown>>()
  for (const [key, codec] of Object.entries(options.upcasts ?? {})) {
    const from = Number(key)
    if (!Number.isSafeInteger(from) || from < 1 || from >= version) {
      throw new TypeError(`eventType ${name}: upcast from version ${key} must be an integer in 1..${version - 1}`)
    }
    upcasts.set(from, codec)
  }
  return { name, version, schema, upcasts }
}

/** A stored event cannot be turned into a domain event (unknown type or version, or bad payload). */
export class UndecodableEvent extends Schema.TaggedError<UndecodableEvent>()("UndecodableEvent", {
  stream: Schema.String,
  position: Schema.Number,
  type: Schema.String,
  schemaVersion: Schema.Number,
  reason: Schema.String
}) {
  override get message() {
    return `Event at position ${this.position} of stream "${this.stream}" (type ${this.type} v${this.schemaVersion}) ` +
      `cannot be decoded: ${this.reason}`
  }
}

/** A domain event cannot be encoded (its type is not registered or it fails its schema). */
export class UnencodableEvent extends Schema.TaggedError<UnencodableEvent>()("UnencodableEvent", {
  type: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `Event of type ${this.type} cannot be encoded: ${this.reason}`
  }
}

let lastMillis = 0
let sequence = 0

/**
 * A new event id: time-ordered (milliseconds, then a counter, then randomness), so ids of
 * recent events sit together in the journal's id index.
 */
export const eventId = (): string => {
  const now = Date.now()
  if (now === lastMillis) sequence++
  else {
    lastMillis = now
    sequence = 0
  }
  return now.toString(36).padStart(9, "0") + sequence.toString(36).padStart(4, "0") +
    Math.floor(Math.random() * 2 ** 40).toString(36).padStart(8, "0")
}

const undecodable = (event: RecordedEvent, reason: string) =>
  new UndecodableEvent({
    stream: event.stream,
    position: event.position,
    type: event.type,
    schemaVersion: event.schemaVersion,
    reason
  })

type Decoder<A> = (input: unknown) => Result.Result<A, Schema.SchemaError>

/** A registry of event types: encode domain events for the journal, decode (and upcast) them back. */
export interface EventTypes<A extends { readonly _tag: string }> {
  readonly types: ReadonlyMap<string, EventType<A>>
  /** Encodes an event with its current schema version; `id` defaults to a new `eventId()`. */
  readonly encode: (event: A, id?: string) => Effect.Effect<EventData, UnencodableEvent>
  /** Decodes a recorded event, upcasting an older schema version. */
  readonly decode: (event: RecordedEvent) => Effect.Effect<A, UndecodableEvent>
  /** Synchronous `decode` for hot loops (replay): the event or the error. */
  readonly decodeSync: (event: RecordedEvent) => A | UndecodableEvent
}

/** Builds a registry from event types (each `_tag` once). */
export const registry = <Types extends ReadonlyArray<EventType<any>>>(
  ...types: Types
): EventTypes<Types[number] extends EventType<infer A> ? A : never> => {
  type A = Types[number] extends EventType<infer X> ? X : never
  const byName = new Map<string, EventType<A>>()
  const decoders = new Map<string, Decoder<A>>()
  const encoders = new Map<string, (a: A) => Result.Result<unknown, Schema.SchemaError>>()
  for (const type of types as ReadonlyArray<EventType<A>>) {
    if (byName.has(type.name)) throw new TypeError(`registry: event type ${type.name} is registered twice`)
    byName.set(type.name, type)
    decoders.set(`${type.name}@${type.version}`, Schema.decodeUnknownResult(type.schema) as Decoder<A>)
    for (const [from, codec] of type.upcasts) {
      decoders.set(`${type.name}@${from}`, Schema.decodeUnknownResult(codec) as Decoder<A>)
    }
    encoders.set(type.name, Schema.encodeUnknownResult(type.schema) as (a: A) => Result.Result<unknown, Schema.SchemaError>)
  }

  // Replay decodes long runs of the same type and version: remember the last decoder.
  let lastType = ""
  let lastVersion = 0
  let lastDecoder: Decoder<A> | undefined

  const noDecoder = (event: RecordedEvent) => {
    const known = byName.get(event.type)
    return undecodable(
      event,
      known === undefined
        ? `unknown event type (registered: ${[...byName.keys()].join(", ")})`
        : `no decoder for schema version ${event.schemaVersion} (current is ${known.version}; upcasts from ${
          [...known.upcasts.keys()].join(", ") || "none"
        })`
    )
  }

  // The hot path of replay: no allocation besides the decoder's own.
  const decodeSync = (event: RecordedEvent): A | UndecodableEvent => {
    let decoder: Decoder<A> | undefined
    if (event.type === lastType && event.schemaVersion === lastVersion) decoder = lastDecoder
    else {
      decoder = decoders.get(`${event.type}@${event.schemaVersion}`)
      lastType = event.type
      lastVersion = event.schemaVersion
      lastDecoder = decoder
    }
    if (decoder === undefined) return noDecoder(event)
    const result = decoder(event.data)
    return Result.isSuccess(result) ? result.success : undecodable(event, result.failure.message)
  }

  return {
    types: byName,
    encode: (event, id) =>
      Effect.suspend(() => {
        const type = byName.get(event._tag)
        const encoder = encoders.get(event._tag)
        if (type === undefined || encoder === undefined) {
          return Effect.fail(new UnencodableEvent({ type: String(event._tag), reason: "the event type is not registered" }))
        }
        const result = encoder(event)
        if (Result.isFailure(result)) {
          return Effect.fail(new UnencodableEvent({ type: type.name, reason: result.failure.message }))
        }
        return Effect.succeed({ id: id ?? eventId(), type: type.name, schemaVersion: type.version, data: result.success })
      }),
    decode: (event) =>
      Effect.suspend(() => {
        const decoded = decodeSync(event)
        return decoded instanceof UndecodableEvent ? Effect.fail(decoded) : Effect.succeed(decoded)
      }),
    decodeSync
  }
}
