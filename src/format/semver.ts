/**
 * The few semver functions the descriptors use, each from its own module:
 * semver's index loads every range class and parser (about 5 ms of each
 * run's start), and no format here needs ranges.
 */
import compare from 'semver/functions/compare.js'
import gte from 'semver/functions/gte.js'
import lt from 'semver/functions/lt.js'
import lte from 'semver/functions/lte.js'
import major from 'semver/functions/major.js'
import valid from 'semver/functions/valid.js'

export const semver = { compare, gte, lt, lte, major, valid }
