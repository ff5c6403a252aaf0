/**
 * stout's protobuf framing: a 4-byte length in host byte order (little-endian
 * on every platform Mesos runs on), then one serialized message. An empty
 * file is legal (a reboot before the data reached the disk, MESOS-8871).
 *
 * Decoding never throws on bad bytes: a checkpoint is hostile input, and a
 * checker must report what is wrong and still use whatever it could read.
 */
import { decodeName, encodeName } from '../../../fs/name-bytes.js'
import { LENGTH_DELIMITED, Reader, tag, type Writer } from './schema.js'

export type CheckpointProblemCode =
  | 'truncated-length'
  | 'truncated-message'
  | 'trailing-bytes'
  | 'garbled-message'
  | 'missing-field'

export interface CheckpointProblem {
  code: CheckpointProblemCode
  message: string
  /** Byte offset in the file where the problem starts. */
  offset: number
}

export interface Decoded<T> {
  value: T
  /** The file was empty: legal, and means "nothing recorded". */
  empty: boolean
  problems: CheckpointProblem[]
}

export const LENGTH_PREFIX = 4

/** Splits off the length prefix; the body is what the prefix claims, or what there is. */
export function unframe(bytes: Uint8Array): { body: Uint8Array; empty: boolean; problems: CheckpointProblem[] } {
  const problems: CheckpointProblem[] = []
  if (bytes.length === 0) return { body: bytes, empty: true, problems }
  if (bytes.length < LENGTH_PREFIX) {
    problems.push({
      code: 'truncated-length',
      message: `the file has ${bytes.length} bytes, fewer than the 4-byte length prefix`,
      offset: 0,
    })
    return { body: new Uint8Array(0), empty: false, problems }
  }
  const declared = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readUInt32LE(0)
  const available = bytes.length - LENGTH_PREFIX
  if (available < declared) {
    problems.push({
      code: 'truncated-message',
      message: `the length prefix says ${declared} bytes but only ${available} follow`,
      offset: LENGTH_PREFIX + available,
    })
  } else if (available > declared) {
    problems.push({
      code: 'trailing-bytes',
      message: `${available - declared} bytes follow the ${declared}-byte message`,
      offset: LENGTH_PREFIX + declared,
    })
  }
  return { body: bytes.subarray(LENGTH_PREFIX, LENGTH_PREFIX + Math.min(declared, available)), empty: false, problems }
}

export function frame(message: Uint8Array): Uint8Array {
  const out = Buffer.alloc(LENGTH_PREFIX + message.length)
  out.writeUInt32LE(message.length, 0)
  out.set(message, LENGTH_PREFIX)
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
}

/**
 * A string field's text. Mesos writes UTF-8, but a path field holds whatever
 * bytes the host's names have: a byte that is not UTF-8 is carried escaped
 * (fs/name-bytes), never replaced, so the path still names its file.
 */
export const fieldText = (bytes: Uint8Array): string => decodeName(bytes)

/** Writes a string field as the bytes `fieldText` reads back. */
export function writeText(w: Writer, field: number, text: string): void {
  w.uint32(tag(field, LENGTH_DELIMITED)).bytes(encodeName(text))
}

export interface TopLevelField {
  field: number
  /** Length-delimited payload, or undefined for scalar wire types. */
  bytes: Uint8Array | undefined
  offset: number
}

/**
 * Walks the top-level fields of a message one by one with protobufjs's
 * Reader, so that a garbled record loses only itself and what follows it, not
 * the records before it.
 */
export function readTopLevelFields(body: Uint8Array, baseOffset: number): { fields: TopLevelField[]; problem?: CheckpointProblem } {
  const reader = Reader.create(body)
  const fields: TopLevelField[] = []
  while (reader.pos < reader.len) {
    const start = reader.pos
    try {
      const tag = reader.uint32()
      const field = tag >>> 3
      const wire = tag & 7
      if (field === 0) throw new Error('field number 0')
      if (wire === LENGTH_DELIMITED) fields.push({ field, bytes: reader.bytes(), offset: baseOffset + start })
      else {
        reader.skipType(wire)
        fields.push({ field, bytes: undefined, offset: baseOffset + start })
      }
    } catch (err) {
      return {
        fields,
        problem: {
          code: 'garbled-message',
          message: `unreadable protobuf data at byte ${baseOffset + start}: ${(err as Error).message}`,
          offset: baseOffset + start,
        },
      }
    }
  }
  return { fields }
}
