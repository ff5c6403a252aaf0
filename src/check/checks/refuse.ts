/**
 * A fix that declines to act. The step engine records a LayerfsckError from
 * a step as "refused": nothing was changed by it, the finding stays a
 * problem, and the message says why (no liveness source, a process stands
 * in the mount, the file is not what its name suggests).
 */
import { LayerfsckError } from '../../errors.js'

export class FixRefusedError extends LayerfsckError {
  constructor(message: string) {
    super('FIX_REFUSED', message, { refusal: true })
  }
}
