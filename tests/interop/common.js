// Shared pieces of the interop scripts: command-line parsing, key loading,
// the `test` plugin (the behaviour every interop peer must have, JS or Rust)
// and process shutdown wiring. Plain CommonJS, no build step.
'use strict'

const pull = require('pull-stream')
const ssbKeys = require('ssb-keys')

// App key used by the whole interop suite unless --app-key says otherwise.
const DEFAULT_APP_KEY = 'SjNKh+fLfcLL2v+JLpUqubTrCifzsB/rAN5E+hV4Nkg='

// Manifest of the `test` plugin. `client.js` uses the same one so that its
// rpc object gets a proxy for every method (secret-stack assumes the remote
// runs the same manifest as itself).
const TEST_MANIFEST = {
  hello: 'async',
  add: 'sync',
  fail: 'async',
  count: 'source',
  bytes: 'source',
  collect: 'sink',
  collected: 'async',
  echo: 'duplex',
  secret: 'async'
}

// Methods anonymous peers may call: everything except `secret`.
const ANONYMOUS_METHODS = Object.keys(TEST_MANIFEST).filter((m) => m !== 'secret')

// Tiny argv parser: `--name value` pairs (repeatable), bare `--flag`s given in
// `flags`, and positional arguments. Unknown options are an error, so a typo
// in a test harness fails loudly instead of being ignored.
function parseArgs (argv, { options = [], flags = [], repeatable = [] }) {
  const out = { _: [] }
  for (const r of repeatable) out[r] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (!arg.startsWith('--')) {
      out._.push(arg)
      continue
    }
    const name = arg.slice(2)
    if (flags.includes(name)) {
      out[name] = true
    } else if (options.includes(name) || repeatable.includes(name)) {
      if (i + 1 >= argv.length) throw new Error(`option ${arg} needs a value`)
      const value = argv[++i]
      if (repeatable.includes(name)) out[name].push(value)
      else out[name] = value
    } else {
      throw new Error(`unknown option ${arg}`)
    }
  }
  return out
}

// ssb-keys secret file → key object; created (0400, ssb-keys format) if missing.
// Without a file a fresh random identity is used.
function loadKeys (file) {
  return file ? ssbKeys.loadOrCreateSync(file) : ssbKeys.generate()
}

// Lazy source of the numbers 0 .. n-1. muxrpc drains a source as fast as it
// can, synchronously; yielding to the event loop every 64 items lets a
// caller's abort (and other connections) get through instead of the whole
// stream being produced before anything else runs.
function range (n) {
  let i = 0
  return function read (abort, cb) {
    if (abort) return cb(abort)
    if (i >= n) return cb(true)
    const value = i++
    if (value % 64 === 63) setImmediate(() => cb(null, value))
    else cb(null, value)
  }
}

// Lazy source of `total` bytes in buffers of `chunkSize` (the last one
// shorter); the byte at stream offset j is j % 256.
function byteChunks (total, chunkSize) {
  let offset = 0
  return function read (abort, cb) {
    if (abort) return cb(abort)
    if (offset >= total) return cb(true)
    const len = Math.min(chunkSize, total - offset)
    const buf = Buffer.alloc(len)
    for (let k = 0; k < len; k++) buf[k] = (offset + k) % 256
    offset += len
    cb(null, buf)
  }
}

// How `collected` returns stored items over JSON: binary items become the
// string "binary:" + base64, everything else is returned as received.
function collectedForm (item) {
  return Buffer.isBuffer(item) ? 'binary:' + item.toString('base64') : item
}

// Duplex that hands back every item its sink receives, unchanged (strings,
// JSON values and buffers stay what they were). Its source simply pulls from
// the stream that was connected to its sink, so ends and aborts propagate.
function loopback () {
  let upstream = null
  let pending = null
  return {
    sink (read) {
      upstream = read
      if (pending) {
        const [abort, cb] = pending
        pending = null
        upstream(abort, cb)
      }
    },
    source (abort, cb) {
      if (upstream) upstream(abort, cb)
      else pending = [abort, cb]
    }
  }
}

// The `test` plugin served by peer.js. Per-connection state (what `collect`
// stored) is keyed by the connection's rpc object, which muxrpc passes as
// `this` to remotely invoked methods.
const testPlugin = {
  name: 'test',
  version: '1.0.0',
  manifest: TEST_MANIFEST,
  permissions: { anonymous: { allow: ANONYMOUS_METHODS } },
  init () {
    const stored = new WeakMap()
    return {
      hello (name, cb) {
        cb(null, 'hello ' + name)
      },
      add (a, b) {
        return a + b
      },
      fail (cb) {
        cb(new Error('test.fail: intentional failure'))
      },
      count (n) {
        return range(Number(n) || 0)
      },
      bytes (total, chunkSize) {
        const size = chunkSize === undefined || chunkSize === null ? 65536 : Number(chunkSize)
        if (!(size >= 1)) return pull.error(new Error('test.bytes: chunkSize must be >= 1'))
        return byteChunks(Number(total) || 0, size)
      },
      collect () {
        const items = []
        stored.set(this, items)
        return pull.drain((item) => { items.push(item) })
      },
      collected (cb) {
        cb(null, (stored.get(this) || []).map(collectedForm))
      },
      echo () {
        return loopback()
      },
      secret (cb) {
        cb(null, 'the secret is 42')
      }
    }
  }
}

// Calls `shutdown` once, on SIGTERM/SIGINT or when stdin closes (the Rust
// harness keeps stdin piped and drops it to stop the child).
function onShutdown (shutdown) {
  let done = false
  const once = (why) => {
    if (done) return
    done = true
    shutdown(why)
  }
  process.on('SIGTERM', () => once('SIGTERM'))
  process.on('SIGINT', () => once('SIGINT'))
  process.stdin.on('end', () => once('stdin closed'))
  process.stdin.on('close', () => once('stdin closed'))
  process.stdin.on('error', () => once('stdin error'))
  process.stdin.resume()
}

// A 32-byte key seed given as 64 hex characters (or random when absent).
function seedArg (hex) {
  if (hex === undefined) return require('crypto').randomBytes(32)
  const seed = Buffer.from(hex, 'hex')
  if (seed.length !== 32 || seed.toString('hex') !== hex.toLowerCase()) {
    throw new Error(`a seed must be 64 hex characters, got ${hex}`)
  }
  return seed
}

// A 32-byte app key given as base64 (or the suite's default).
function appKeyArg (b64) {
  const key = Buffer.from(b64 === undefined ? DEFAULT_APP_KEY : b64, 'base64')
  if (key.length !== 32) throw new Error(`an app key must be 32 bytes of base64, got ${b64}`)
  return key
}

// "@KEY.ed25519" or bare base64 → the 32-byte public key.
function publicKeyArg (text) {
  const bare = text.replace(/^@/, '').replace(/\.ed25519$/, '')
  const key = Buffer.from(bare, 'base64')
  if (key.length !== 32) throw new Error(`not an ed25519 public key: ${text}`)
  return key
}

function toId (publicKey) {
  return '@' + publicKey.toString('base64') + '.ed25519'
}

function log (...args) {
  console.error(`[${require('path').basename(process.argv[1])}]`, ...args)
}

module.exports = {
  DEFAULT_APP_KEY,
  TEST_MANIFEST,
  ANONYMOUS_METHODS,
  parseArgs,
  loadKeys,
  testPlugin,
  onShutdown,
  seedArg,
  appKeyArg,
  publicKeyArg,
  toId,
  log
}
