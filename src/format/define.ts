/**
 * Deep-freezes a format descriptor (of any family) so no code path can edit
 * a format at run time. A frozen RegExp still matches: only global or sticky
 * ones write lastIndex, and descriptors hold neither.
 */
export function deepFreeze<T>(d: T): Readonly<T> {
  const freeze = (v: unknown): void => {
    if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
      Object.freeze(v)
      for (const x of Object.values(v)) freeze(x)
    }
  }
  freeze(d)
  return d
}
