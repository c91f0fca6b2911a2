// A secret-stack 8.1.0 node serving the `test` plugin, for the interop tests.
//
//   node peer.js [--port N] [--host IP] [--app-key B64] [--keys FILE] [--master @ID]... [--nodelay]
//                [--serve-portal] [--portal ADDRESS]
//
// Listens on 127.0.0.1 only, or on --host (the network simulator's crowd puts
// it on a namespace's address). Once listening it prints exactly one JSON line on
// stdout: {"address":"net:127.0.0.1:PORT~shs:KEY","id":"@KEY.ed25519"}.
// Everything else goes to stderr. Exits on SIGTERM/SIGINT or when stdin closes.
// --nodelay turns TCP_NODELAY on for its sockets (see nodelay.js; for benchmarks).
// --serve-portal also serves ssb-tunnel 2.0.0 as a portal (others announce to it
// and connect through it). --portal ADDRESS makes it a tunnel endpoint: it
// connects to the portal at ADDRESS, announces itself, and waits for that to
// succeed before printing its line, which then has `"tunnel":"tunnel:@P:@ME:0~shs:KEY"`
// (its address through the portal). Both load ssb-tunnel; `tunnel.logging` is on.
//
// Permissions: our own id and every --master id get full access (the auth
// hook answers {allow: null, deny: null}); anyone else gets
// permissions.anonymous = `manifest` plus every test.* method but `secret`.
'use strict'

const net = require('net')
const SecretStack = require('secret-stack')
const { DEFAULT_APP_KEY, parseArgs, loadKeys, testPlugin, onShutdown, log } = require('./common')
const { tunnelPlugins, endpointConnections, tunnelAlternative } = require('./tunnel')

function main () {
  const args = parseArgs(process.argv.slice(2), {
    options: ['port', 'host', 'app-key', 'keys', 'portal'],
    flags: ['nodelay', 'serve-portal'],
    repeatable: ['master']
  })
  if (args.nodelay) require('./nodelay').enable()
  if (args._.length) throw new Error(`unexpected argument ${args._[0]}`)
  const keys = loadKeys(args.keys)
  const masters = new Set([keys.id, ...args.master])

  const host = args.host || '127.0.0.1'
  const port = args.port !== undefined ? Number(args.port) : null
  if (port !== null && !(Number.isInteger(port) && port >= 0 && port < 65536)) {
    throw new Error(`bad --port ${args.port}`)
  }
  // multiserver's net transport treats port 0 as "pick a random port in
  // 49152-65535" (which can collide), so ask the OS for a free one instead.
  if (port === null || port === 0) freePort(host, start)
  else start(port)

  function start (port) {
    const tunnelling = args['serve-portal'] || args.portal !== undefined
    let connections = {
      // An explicit scope is required; a single-scope entry with
      // a host makes the net transport bind exactly that address.
      incoming: { net: [{ scope: 'device', transform: 'shs', host, port }] },
      outgoing: { net: [{ transform: 'shs' }] }
    }
    if (args.portal !== undefined) connections = endpointConnections(connections, args.portal)
    const app = SecretStack({ global: { appKey: args['app-key'] || DEFAULT_APP_KEY } })
      .use(testPlugin)
      .use(tunnelling ? tunnelPlugins(args.portal) : [])({
        global: {
          keys,
          // A `timers` object switches the inactivity default from 5 s to
          // 10 minutes; the handshake timeout stays 15 s.
          timers: { inactivity: 10 * 60 * 1000 },
          connections
        },
        tunnel: { logging: tunnelling }
      })

    app.auth.hook(function (fn, [id, cb]) {
      if (masters.has(id)) return cb(null, { allow: null, deny: null })
      fn(id, cb)
    })

    app.on('rpc:connect', (rpc, isClient) => {
      const who = masters.has(rpc.id) ? 'master' : 'anonymous'
      log(`connection ${isClient ? 'to' : 'from'} ${rpc.id} (${who}) via ${rpc.stream && rpc.stream.address}`)
      rpc.once('closed', () => log(`connection with ${rpc.id} closed`))
    })

    // An endpoint's multiserver never reports "listening" (the tunnel server
    // never says it started); ssb-tunnel emits `tunnel:listening` once the
    // portal took its announcement.
    app.once(args.portal !== undefined ? 'tunnel:listening' : 'multiserver:listening', () => {
      // multiserver reports "listening" even when listen() failed:
      // make sure the port is really taken before announcing it.
      const probe = net.createServer()
      probe.once('error', () => announce())
      probe.listen(port, host, () => {
        probe.close()
        log(`failed to listen on ${host}:${port}`)
        process.exit(1)
      })
    })

    function announce () {
      const address = app.getAddress('device')
      const expected = `net:${host}:${port}~shs:${app.id.slice(1, -'.ed25519'.length)}`
      if (address !== expected) log(`note: getAddress gave ${address}, announcing ${expected}`)
      const line = { address: expected, id: app.id }
      if (args.portal !== undefined) line.tunnel = tunnelAlternative(app.getAddress('public'))
      process.stdout.write(JSON.stringify(line) + '\n')
      log(`listening on ${expected}`)
    }

    onShutdown((why) => {
      log(`shutting down (${why})`)
      app.close(true, () => process.exit(0))
      setTimeout(() => process.exit(0), 2000).unref()
    })
  }
}

// Asks the OS for a free TCP port on `host`.
function freePort (host, cb) {
  const srv = net.createServer()
  srv.listen(0, host, () => {
    const { port } = srv.address()
    srv.close(() => cb(port))
  })
}

try {
  main()
} catch (err) {
  log(err.message)
  process.exit(2)
}
