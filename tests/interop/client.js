// Interop client: connects with secret-stack 8.1.0 to a peer serving the
// `test` plugin (peer.js or the Rust interop_peer) and checks every method.
//
//   node client.js ADDRESS [--app-key B64] [--keys FILE] [--master] [--portal ADDRESS]
//
// --master says the peer was told our id as a master, so `test.secret` must
// succeed and unknown methods must fail with `no async:…`; without it we are
// anonymous and both must be refused by the permission check.
// --portal PORTAL_ADDRESS: ADDRESS is a `tunnel:` address; the client loads
// ssb-tunnel 2.0.0, reaches the portal at PORTAL_ADDRESS (through a small
// `gossip.connect`) and runs every check through the tunnel.
// Prints `ok - name` / `not ok - name: detail` per check, then
// `N passed, M failed`; exit code 1 if anything failed. Logs go to stderr.
'use strict'

const assert = require('assert')
const pull = require('pull-stream')
const SecretStack = require('secret-stack')
const { DEFAULT_APP_KEY, TEST_MANIFEST, parseArgs, loadKeys, log } = require('./common')
const { tunnelPlugins, clientConnections } = require('./tunnel')

const CHECK_TIMEOUT_MS = 20000

let passed = 0
let failed = 0

// Runs one named check with a timeout, reporting its outcome.
async function check (name, fn) {
  let timer
  try {
    await Promise.race([
      fn(),
      new Promise((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS)
      })
    ])
    passed++
    console.log(`ok - ${name}`)
  } catch (err) {
    failed++
    console.log(`not ok - ${name}: ${String(err && err.message ? err.message : JSON.stringify(err)).replace(/\n/g, ' ')}`)
  } finally {
    clearTimeout(timer)
  }
}

// Resolves with the error a call produced; rejects if it succeeded.
async function expectError (promise) {
  try {
    const value = await promise
    throw new Error(`expected an error, got ${JSON.stringify(value)}`)
  } catch (err) {
    if (err && err.message && err.message.startsWith('expected an error')) throw err
    return err
  }
}

function collect (source) {
  return new Promise((resolve, reject) => {
    pull(source, pull.collect((err, items) => (err ? reject(err) : resolve(items))))
  })
}

// Byte pattern of test.bytes: byte at stream offset j is j % 256.
function pattern (offset, len) {
  const buf = Buffer.alloc(len)
  for (let k = 0; k < len; k++) buf[k] = (offset + k) % 256
  return buf
}

function checkBytes (chunks, total, chunkSize) {
  const sizes = chunks.map((c) => c.length)
  const expected = []
  for (let left = total; left > 0; left -= chunkSize) expected.push(Math.min(left, chunkSize))
  assert.deepStrictEqual(sizes, expected, 'chunk sizes')
  let offset = 0
  for (const c of chunks) {
    assert.ok(Buffer.isBuffer(c), 'chunk is binary')
    assert.ok(c.equals(pattern(offset, c.length)), `content of chunk at offset ${offset}`)
    offset += c.length
  }
}

async function run (rpc, master) {
  const t = rpc.test

  await check('hello', async () => {
    assert.strictEqual(await t.hello('world'), 'hello world')
  })
  await check('add', async () => {
    assert.strictEqual(await t.add(2, 40), 42)
    assert.strictEqual(await t.add(-1.5, 0.25), -1.25)
  })
  await check('fail', async () => {
    const err = await expectError(t.fail())
    assert.strictEqual(err.message, 'test.fail: intentional failure')
  })
  await check('count(5)', async () => {
    assert.deepStrictEqual(await collect(t.count(5)), [0, 1, 2, 3, 4])
  })
  await check('count(0)', async () => {
    assert.deepStrictEqual(await collect(t.count(0)), [])
  })
  await check('count abort after 3', async () => {
    assert.deepStrictEqual(await collect(pull(t.count(100000), pull.take(3))), [0, 1, 2])
    assert.strictEqual(await t.hello('after abort'), 'hello after abort')
  })
  await check('bytes(200000, 65536)', async () => {
    checkBytes(await collect(t.bytes(200000, 65536)), 200000, 65536)
  })
  await check('bytes(150000) default chunk size', async () => {
    checkBytes(await collect(t.bytes(150000)), 150000, 65536)
  })
  await check('bytes(10000, 3000)', async () => {
    checkBytes(await collect(t.bytes(10000, 3000)), 10000, 3000)
  })

  const bin = Buffer.from([0, 1, 2, 254, 255])
  await check('collect then collected', async () => {
    const items = [1, { a: 1, b: [true, null, 'x'] }, 'a string', bin, 2.5, [1, 2]]
    await new Promise((resolve, reject) => {
      pull(pull.values(items), t.collect((err) => (err ? reject(err) : resolve())))
    })
    assert.deepStrictEqual(await t.collected(), [
      1, { a: 1, b: [true, null, 'x'] }, 'a string', 'binary:' + bin.toString('base64'), 2.5, [1, 2]
    ])
  })
  await check('collect empty then collected', async () => {
    await new Promise((resolve, reject) => {
      pull(pull.empty(), t.collect((err) => (err ? reject(err) : resolve())))
    })
    assert.deepStrictEqual(await t.collected(), [])
  })
  await check('echo keeps strings, JSON and binary apart', async () => {
    const big = pattern(0, 10000)
    const items = ['text', { json: true, n: [1, 2] }, 42, bin, '{"looks":"like json"}', big, false, 'last']
    const back = await collect(pull(pull.values(items), t.echo()))
    assert.strictEqual(back.length, items.length, `got ${back.length} items`)
    items.forEach((item, i) => {
      if (Buffer.isBuffer(item)) {
        assert.ok(Buffer.isBuffer(back[i]), `item ${i} is binary`)
        assert.ok(item.equals(back[i]), `item ${i} content`)
      } else {
        assert.strictEqual(typeof back[i], typeof item, `item ${i} type`)
        assert.deepStrictEqual(back[i], item, `item ${i} value`)
      }
    })
  })
  await check(master ? 'secret allowed for master' : 'secret refused for anonymous', async () => {
    if (master) {
      assert.strictEqual(await t.secret(), 'the secret is 42')
    } else {
      const err = await expectError(t.secret())
      assert.strictEqual(err.message, 'method:test,secret is not in list of allowed methods')
    }
  })
  await check('unknown method', async () => {
    const err = await expectError(t.nope())
    // JS renders the method path joined with commas.
    const want = master ? 'no async:test,nope' : 'method:test,nope is not in list of allowed methods'
    assert.strictEqual(err.message, want)
  })
  await check('unknown source', async () => {
    const err = await expectError(collect(t.nopeSource()))
    const want = master ? 'no source:test,nopeSource' : 'method:test,nopeSource is not in list of allowed methods'
    assert.strictEqual(err.message, want)
  })
  await check('200 parallel async calls', async () => {
    const calls = []
    for (let i = 0; i < 200; i++) {
      calls.push(i % 2 ? t.hello('n' + i) : t.add(i, 1000))
    }
    const results = await Promise.all(calls)
    results.forEach((r, i) => assert.strictEqual(r, i % 2 ? 'hello n' + i : i + 1000, `call ${i}`))
  })
  await check('parallel sources', async () => {
    const [a, b, c, d] = await Promise.all([
      collect(t.count(300)),
      collect(t.bytes(100000, 7000)),
      collect(t.count(1)),
      collect(t.bytes(70000))
    ])
    assert.deepStrictEqual(a, Array.from({ length: 300 }, (_, i) => i))
    checkBytes(b, 100000, 7000)
    assert.deepStrictEqual(c, [0])
    checkBytes(d, 70000, 65536)
  })
  await check('connection still usable', async () => {
    assert.strictEqual(await t.hello('again'), 'hello again')
  })
  await check('graceful close', async () => {
    await new Promise((resolve, reject) => rpc.close((err) => (err ? reject(err) : resolve())))
    assert.strictEqual(rpc.closed, true)
  })
}

async function main () {
  const args = parseArgs(process.argv.slice(2), {
    options: ['app-key', 'keys', 'portal'],
    flags: ['master']
  })
  if (args._.length !== 1) {
    throw new Error('usage: node client.js ADDRESS [--app-key B64] [--keys FILE] [--master] [--portal ADDRESS]')
  }
  const keys = loadKeys(args.keys)
  log(`client id ${keys.id}`)

  // The client app carries the `test` manifest (plus two names the peer does
  // not have, to exercise the "unknown method" errors) so the rpc object has
  // proxies for them; it serves nothing and listens nowhere.
  const connections = { incoming: {}, outgoing: { net: [{ transform: 'shs' }] } }
  const app = SecretStack({ global: { appKey: args['app-key'] || DEFAULT_APP_KEY } })
    .use({
      name: 'test',
      manifest: Object.assign({}, TEST_MANIFEST, { nope: 'async', nopeSource: 'source' }),
      init () { return {} }
    })
    .use(args.portal !== undefined ? tunnelPlugins(args.portal) : [])({
      global: {
        keys,
        timers: { inactivity: 10 * 60 * 1000 },
        connections: args.portal !== undefined ? clientConnections(connections) : connections
      },
      tunnel: { logging: args.portal !== undefined }
    })

  let rpc
  await check('connect', async () => {
    rpc = await new Promise((resolve, reject) => {
      app.connect(args._[0], (err, rpc) => (err ? reject(err) : resolve(rpc)))
    })
  })
  if (rpc) await run(rpc, Boolean(args.master))

  console.log(`${passed} passed, ${failed} failed`)
  app.close(true, () => process.exit(failed ? 1 : 0))
  setTimeout(() => process.exit(failed ? 1 : 0), 2000).unref()
}

main().catch((err) => {
  log(err.stack || err.message)
  console.log(`${passed} passed, ${failed + 1} failed`)
  process.exit(2)
})
