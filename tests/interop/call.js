// A minimal Scuttlebutt-style client, the JS side of benches/startup.sh: reads
// $HOME/.ssb/secret and $HOME/.ssb/config (caps.shs, host, port) the way
// `ssb-client` does, dials the local server with that same key pair using
// secret-stack 8.1.0, makes one async call of METHOD (dotted) without
// arguments, prints its answer as JSON and exits.
//
//   node call.js METHOD
'use strict'

const fs = require('fs')
const path = require('path')
const ssbKeys = require('ssb-keys')
const SecretStack = require('secret-stack')

const MAIN_NETWORK = '1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s='

function main () {
  const method = process.argv[2]
  if (!method) throw new Error('usage: node call.js METHOD')
  const dir = path.join(process.env.HOME, '.ssb')
  const keys = ssbKeys.loadSync(path.join(dir, 'secret'))
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config'), 'utf8'))
  const caps = (config.caps && config.caps.shs) || MAIN_NETWORK
  const host = config.host || '127.0.0.1'
  const port = config.port || 8008
  const key = keys.public.replace(/\.ed25519$/, '')
  const app = SecretStack({ global: { appKey: caps } })({
    global: {
      keys,
      timers: { inactivity: 0 },
      connections: { incoming: {}, outgoing: { net: [{ transform: 'shs' }] } }
    }
  })
  app.connect(`net:${host}:${port}~shs:${key}`, (err, rpc) => {
    if (err) throw err
    let target = rpc
    for (const name of method.split('.')) target = target[name]
    target((err, answer) => {
      if (err) throw err
      console.log(JSON.stringify(answer))
      rpc.close(true, () => app.close(true, () => process.exit(0)))
    })
  })
}

main()
