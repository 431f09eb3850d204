/**
 * What the front desk and `TaskContext.spawn` share on the way in: payload validation (size,
 * Schema decode naming the field, encode for the log) and task ids.
 */
import { InvalidPayload, PayloadTooLarge } from "../TaskError.js"
import type * as TaskType from "../TaskType.js"
import { decodePayload, encodePayload } from "./log.js"

/** Tenants are 1..128 of these characters (they end up in metrics and logs). */
export const TENANT = /^[A-Za-z0-9_.:@-]{1,128}$/

/** A payload checked and ready for the log. */
export interface Prepared {
  /** The encoded payload (what the log stores). */
  readonly value: unknown
  /** The decoded payload (what the handler gets). */
  readonly decoded: unknown
}

/** Validates one payload; `field` names it in errors (`payload`, `payloads[3]`). */
export const prepare = (type: TaskType.Any, payload: unknown, field: string): Prepared | InvalidPayload | PayloadTooLarge => {
  let json: string | undefined
  try {
    json = JSON.stringify(payload)
  } catch (cause) {
    return new InvalidPayload({ taskType: type.name, field, reason: `not serializable as JSON (${String(cause)})` })
  }
  if (json === undefined) return new InvalidPayload({ taskType: type.name, field, reason: "missing (undefined)" })
  if (json.length > type.maxPayloadBytes) {
    return new PayloadTooLarge({ taskType: type.name, bytes: json.length, limit: type.maxPayloadBytes })
  }
  const decoded = decodePayload(type, payload)
  if (decoded instanceof InvalidPayload) {
    return field === "payload"
      ? decoded
      : new InvalidPayload({ taskType: type.name, field: field + decoded.field.slice("payload".length), reason: decoded.reason })
  }
  const encoded = encodePayload(type, decoded.value)
  return "value" in encoded ? { value: encoded.value, decoded: decoded.value } : encoded
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
const pool = new Uint8Array(16 * 256)
let offset = pool.length

/**
 * A new task id: 128 random bits (crypto-grade), 22 characters of base64url. Ticket ids are
 * handed to clients, so they must not be guessable (a ticket id is enough to read a status).
 */
export const newId = (): string => {
  if (offset + 16 > pool.length) {
    globalThis.crypto.getRandomValues(pool)
    offset = 0
  }
  let out = ""
  // 16 bytes = 5 groups of 3 bytes (4 characters each) + 1 byte (2 characters).
  for (let i = 0; i < 15; i += 3) {
    const n = (pool[offset + i]! << 16) | (pool[offset + i + 1]! << 8) | pool[offset + i + 2]!
    out += ALPHABET[(n >>> 18) & 63]! + ALPHABET[(n >>> 12) & 63]! + ALPHABET[(n >>> 6) & 63]! + ALPHABET[n & 63]!
  }
  const last = pool[offset + 15]!
  out += ALPHABET[last >>> 2]! + ALPHABET[(last & 3) << 4]!
  offset += 16
  return out
}
