// Raw secret-handshake 1.1.21 + pull-box-stream 1.0.13 client (no muxrpc)
// that checks an echo server (shs-server.js or the Rust one).
//
//   node shs-client.js --port N --server-id ID [--host H] [--app-key B64]
//                      [--seed HEX64] [--expect-reject] [MESSAGE]...
//
// ID is "@KEY.ed25519" or the bare base64 key. Each MESSAGE is `text:STRING`
// (UTF-8 bytes), `bytes:N` (N bytes, byte k = k % 256) or `hex:HEX`; they are
// written as separate box-stream chunks in order (box-stream splits any chunk
// over 4096 bytes into several frames), then the box goodbye. Default
// messages: text:hello bytes:5000 hex:00ff text:bye bytes:4096.
// Checks: handshake, echoed bytes equal the sent bytes, every echoed chunk is
// at most 4096 bytes, and the server ends with a box goodbye. With
// --expect-reject the only check is that the handshake fails.
// Prints `ok - name` / `not ok - name: detail`, then `N passed, M failed`;
// exit code 1 on any failure.
'use strict'

const net = require('net')
const pull = require('pull-stream')
const toPull = require('stream-to-pull-stream')
const shs = require('secret-handshake')
const { parseArgs, seedArg, appKeyArg, publicKeyArg, toId, log } = require('./common')

const HANDSHAKE_TIMEOUT_MS = 15000
const RUN_TIMEOUT_MS = 30000

let passed = 0
let failed = 0

function report (name, err) {
  if (err) {
    failed++
    console.log(`not ok - ${name}: ${String(err.message || err).replace(/\n/g, ' ')}`)
  } else {
    passed++
    console.log(`ok - ${name}`)
  }
}

function finish () {
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(failed ? 1 : 0)
}

function parseMessage (text) {
  const i = text.indexOf(':')
  const kind = i < 0 ? '' : text.slice(0, i)
  const rest = i < 0 ? '' : text.slice(i + 1)
  if (kind === 'text') return Buffer.from(rest, 'utf8')
  if (kind === 'hex') return Buffer.from(rest, 'hex')
  if (kind === 'bytes') {
    const n = Number(rest)
    if (!Number.isInteger(n) || n < 0) throw new Error(`bad message ${text}`)
    const buf = Buffer.alloc(n)
    for (let k = 0; k < n; k++) buf[k] = k % 256
    return buf
  }
  throw new Error(`bad message ${text} (want text:…, bytes:N or hex:…)`)
}

function main () {
  const args = parseArgs(process.argv.slice(2), {
    options: ['port', 'host', 'server-id', 'app-key', 'seed'],
    flags: ['expect-reject']
  })
  if (args.port === undefined || args['server-id'] === undefined) {
    throw new Error('usage: node shs-client.js --port N --server-id ID [--host H] [--app-key B64] [--seed HEX64] [--expect-reject] [MESSAGE]...')
  }
  const serverKey = publicKeyArg(args['server-id'])
  const keys = shs.toKeys(seedArg(args.seed))
  const appKey = appKeyArg(args['app-key'])
  const messages = (args._.length ? args._ : ['text:hello', 'bytes:5000', 'hex:00ff', 'text:bye', 'bytes:4096'])
    .map(parseMessage)
  log(`client id ${toId(keys.publicKey)}`)

  setTimeout(() => {
    report('finished in time', new Error(`no result after ${RUN_TIMEOUT_MS} ms`))
    finish()
  }, RUN_TIMEOUT_MS).unref()

  const connect = shs.createClient(keys, appKey, HANDSHAKE_TIMEOUT_MS)
  const socket = net.connect({ port: Number(args.port), host: args.host || '127.0.0.1', allowHalfOpen: true })
  socket.on('error', (err) => log(`socket error: ${err.message}`))
  const raw = toPull.duplex(socket)

  pull(raw.source, connect(serverKey, (err, secure) => {
    if (args['expect-reject']) {
      report('handshake rejected', err ? null : new Error('the handshake succeeded'))
      if (err) log(`handshake error (expected): ${err.message}`)
      socket.destroy()
      return finish()
    }
    report('handshake', err)
    if (err) return finish()
    if (!secure.remote.equals(serverKey)) report('server key', new Error(`got ${toId(secure.remote)}`))

    const sent = Buffer.concat(messages)
    pull(pull.values(messages), secure.sink)
    pull(secure.source, pull.collect((err, chunks) => {
      report('server ended with box goodbye', err)
      chunks = chunks || []
      const got = Buffer.concat(chunks)
      report(`echo of ${messages.length} messages (${sent.length} bytes)`,
        got.equals(sent) ? null : new Error(`received ${got.length} bytes, first difference at ${firstDiff(got, sent)}`))
      const big = chunks.find((c) => c.length > 4096)
      report('echoed chunks at most 4096 bytes', big ? new Error(`a chunk of ${big.length} bytes`) : null)
      socket.destroy()
      finish()
    }))
  }), raw.sink)
}

function firstDiff (a, b) {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return n
}

try {
  main()
} catch (err) {
  log(err.message)
  console.log(`${passed} passed, ${failed + 1} failed`)
  process.exit(2)
}
