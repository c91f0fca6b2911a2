// Raw secret-handshake 1.1.21 + pull-box-stream 1.0.13 echo server (no
// muxrpc), for the handshake/box-stream interop tests.
//
//   node shs-server.js [--app-key B64] [--seed HEX64] [--port N]
//
// Listens on 127.0.0.1 (port 0 = any free port), prints one JSON line
// {"port":N,"id":"@…"} once listening, then for every connection accepts any
// client key, echoes every decrypted box-stream chunk back as it arrives and,
// when the client sends its box goodbye, ends its own side with a goodbye
// too. Logs to stderr; exits on SIGTERM/SIGINT or when stdin closes.
'use strict'

const net = require('net')
const pull = require('pull-stream')
const toPull = require('stream-to-pull-stream')
const shs = require('secret-handshake')
const { parseArgs, seedArg, appKeyArg, toId, onShutdown, log } = require('./common')

const HANDSHAKE_TIMEOUT_MS = 15000

function main () {
  const args = parseArgs(process.argv.slice(2), { options: ['app-key', 'seed', 'port'] })
  if (args._.length) throw new Error(`unexpected argument ${args._[0]}`)
  const keys = shs.toKeys(seedArg(args.seed))
  const appKey = appKeyArg(args['app-key'])
  const port = args.port === undefined ? 0 : Number(args.port)

  const accept = shs.createServer(keys, (pub, cb) => cb(null, true), appKey, HANDSHAKE_TIMEOUT_MS)

  // allowHalfOpen: the client may close its TCP write side right after its
  // goodbye; we must still be able to send the rest of the echo and ours.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const from = `${socket.remoteAddress}:${socket.remotePort}`
    const raw = toPull.duplex(socket)
    pull(raw.source, accept((err, secure) => {
      if (err) return log(`handshake with ${from} failed: ${err.message}`)
      log(`handshake with ${toId(secure.remote)} (${from}) done`)
      let chunks = 0
      let bytes = 0
      pull(
        secure.source,
        pull.through(
          (chunk) => { chunks++; bytes += chunk.length },
          (end) => log(`${from}: ${chunks} chunks, ${bytes} bytes echoed; input ended ${end === true || end === null ? 'with goodbye' : 'with error: ' + (end && end.message)}`)
        ),
        secure.sink
      )
    }), raw.sink)
  })

  server.listen(port, '127.0.0.1', () => {
    const id = toId(keys.publicKey)
    process.stdout.write(JSON.stringify({ port: server.address().port, id }) + '\n')
    log(`listening on 127.0.0.1:${server.address().port} as ${id}`)
  })
  server.on('error', (err) => {
    log(`server error: ${err.message}`)
    process.exit(1)
  })

  onShutdown((why) => {
    log(`shutting down (${why})`)
    process.exit(0)
  })
}

try {
  main()
} catch (err) {
  log(err.message)
  process.exit(2)
}
