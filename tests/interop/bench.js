// Client benchmark with secret-stack 8.1.0 against any peer serving the
// `test` plugin (peer.js or the Rust interop_peer); the JS twin of
// `cargo run --release --example bench`.
//
//   node bench.js ADDRESS [--app-key B64] [--only connect,rtt1,rtt100,source,echo]
//                 [--seconds S] [--no-nodelay]
//
// Prints one JSON line per figure on stdout:
// {"bench":"<name>","value":<number>,"unit":"<unit>"}
//   connect  sequential connect + handshake + RPC close, conn/s
//   rtt1     test.hello round trips, 1 in flight, calls/s
//   rtt100   test.hello round trips, 100 in flight, calls/s
//   source   test.bytes in 64 KiB chunks, MB/s (10^6 bytes)
//   echo     test.echo with 64 KiB binary chunks, at most 1 MiB unanswered,
//            MB/s one way
// TCP_NODELAY is on for our sockets unless --no-nodelay (see nodelay.js).
// Logs go to stderr; exit code 1 if a figure failed, 2 on a usage error.
'use strict'

const pull = require('pull-stream')
const { DEFAULT_APP_KEY, TEST_MANIFEST, parseArgs, loadKeys, log } = require('./common')

const FIGURES = ['connect', 'rtt1', 'rtt100', 'source', 'echo']
const CHUNK = 64 * 1024
const ECHO_WINDOW = 1024 * 1024
// Bytes per test.bytes call of the `source` figure; calls repeat until the
// time is up.
const SOURCE_CALL_BYTES = 64 * 1024 * 1024

const now = () => Number(process.hrtime.bigint()) / 1e9

function connect (app, address) {
  return new Promise((resolve, reject) => {
    app.connect(address, (err, rpc) => (err ? reject(err) : resolve(rpc)))
  })
}

function close (rpc) {
  return new Promise((resolve, reject) => rpc.close((err) => (err ? reject(err) : resolve())))
}

function hello (rpc) {
  return new Promise((resolve, reject) => {
    rpc.test.hello('bench', (err, answer) => {
      if (err) return reject(err)
      if (answer !== 'hello bench') return reject(new Error(`unexpected answer ${JSON.stringify(answer)}`))
      resolve()
    })
  })
}

async function connectRate (app, address, seconds) {
  const start = now()
  let done = 0
  while (now() - start < seconds) {
    const rpc = await connect(app, address)
    await close(rpc)
    done++
  }
  return done / (now() - start)
}

// test.hello round trips with `inFlight` calls outstanding at all times.
async function roundTrips (app, address, seconds, inFlight) {
  const rpc = await connect(app, address)
  await hello(rpc) // warm up
  const start = now()
  let done = 0
  const rate = await new Promise((resolve, reject) => {
    let pending = 0
    let failed = false
    function one () {
      pending++
      rpc.test.hello('bench', (err, answer) => {
        pending--
        if (failed) return
        if (err || answer !== 'hello bench') {
          failed = true
          return reject(err || new Error(`unexpected answer ${JSON.stringify(answer)}`))
        }
        done++
        if (now() - start < seconds) one()
        else if (pending === 0) resolve(done / (now() - start))
      })
    }
    for (let i = 0; i < inFlight; i++) one()
  })
  await close(rpc)
  return rate
}

async function source (app, address, seconds) {
  const rpc = await connect(app, address)
  const start = now()
  let received = 0
  while (now() - start < seconds) {
    const got = await new Promise((resolve, reject) => {
      let n = 0
      pull(
        rpc.test.bytes(SOURCE_CALL_BYTES, CHUNK),
        pull.drain((chunk) => { n += chunk.length }, (err) => (err ? reject(err) : resolve(n)))
      )
    })
    if (got !== SOURCE_CALL_BYTES) throw new Error(`test.bytes sent ${got} of ${SOURCE_CALL_BYTES} bytes`)
    received += got
  }
  const rate = received / (now() - start) / 1e6
  await close(rpc)
  return rate
}

// test.echo: a source that sends a 64 KiB chunk whenever the window allows,
// and a drain that counts what comes back and reopens the window.
async function echo (app, address, seconds) {
  const rpc = await connect(app, address)
  const chunk = Buffer.alloc(CHUNK, 0x5a)
  let credit = ECHO_WINDOW
  let waiting = null
  let stopped = false
  function items (abort, cb) {
    if (abort) return cb(abort)
    if (stopped) return cb(true)
    if (credit >= CHUNK) {
      credit -= CHUNK
      return cb(null, chunk)
    }
    waiting = cb
  }
  function release (n) {
    credit += n
    if (!waiting) return
    const cb = waiting
    if (stopped) {
      waiting = null
      cb(true)
    } else if (credit >= CHUNK) {
      waiting = null
      credit -= CHUNK
      cb(null, chunk)
    }
  }
  const start = now()
  let received = 0
  let measured = null
  await new Promise((resolve, reject) => {
    const duplex = rpc.test.echo()
    pull(items, duplex.sink)
    pull(
      duplex.source,
      pull.drain((item) => {
        if (!Buffer.isBuffer(item)) throw new Error(`unexpected item ${JSON.stringify(item)}`)
        received += item.length
        if (measured === null && now() - start >= seconds) {
          measured = received / (now() - start) / 1e6
          stopped = true
        }
        release(item.length)
      }, (err) => (err ? reject(err) : resolve()))
    )
  })
  await close(rpc)
  if (measured === null) throw new Error('the echo stream ended early')
  return measured
}

const RUNNERS = {
  connect: [connectRate, 'conn/s'],
  rtt1: [(app, a, s) => roundTrips(app, a, s, 1), 'calls/s'],
  rtt100: [(app, a, s) => roundTrips(app, a, s, 100), 'calls/s'],
  source: [source, 'MB/s'],
  echo: [echo, 'MB/s']
}

async function main () {
  const args = parseArgs(process.argv.slice(2), {
    options: ['app-key', 'only', 'seconds'],
    flags: ['no-nodelay']
  })
  if (args._.length !== 1) {
    throw new Error('usage: node bench.js ADDRESS [--app-key B64] [--only LIST] [--seconds S] [--no-nodelay]')
  }
  const figures = args.only ? args.only.split(',') : FIGURES
  const bad = figures.find((f) => !FIGURES.includes(f))
  if (bad) throw new Error(`unknown figure ${bad} (known: ${FIGURES.join(', ')})`)
  const seconds = args.seconds === undefined ? 3 : Number(args.seconds)
  if (!(seconds > 0)) throw new Error(`bad --seconds ${args.seconds}`)
  if (!args['no-nodelay']) require('./nodelay').enable()
  // Required after nodelay.enable(), though multiserver looks `net.connect` up
  // at call time anyway.
  const SecretStack = require('secret-stack')
  const keys = loadKeys()
  log(`bench client id ${keys.id}`)
  const app = SecretStack({ global: { appKey: args['app-key'] || DEFAULT_APP_KEY } })
    .use({ name: 'test', manifest: TEST_MANIFEST, init () { return {} } })({
      global: {
        keys,
        timers: { inactivity: 10 * 60 * 1000 },
        connections: { incoming: {}, outgoing: { net: [{ transform: 'shs' }] } }
      }
    })
  let failed = false
  for (const figure of figures) {
    const [run, unit] = RUNNERS[figure]
    try {
      const value = await run(app, args._[0], seconds)
      console.log(JSON.stringify({ bench: figure, value, unit }))
    } catch (err) {
      failed = true
      log(`${figure}: ${err && err.message ? err.message : JSON.stringify(err)}`)
    }
  }
  app.close(true, () => process.exit(failed ? 1 : 0))
  setTimeout(() => process.exit(failed ? 1 : 0), 2000).unref()
}

main().catch((err) => {
  log(err.stack || err.message)
  process.exit(2)
})
