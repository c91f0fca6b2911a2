// Turns TCP_NODELAY on for every TCP socket this Node process creates or
// accepts, so a JS node is measured with the same socket options as the Rust
// one (with Nagle on, muxrpc's several small writes per
// message cost ~88 ms per round trip).
//
// secret-stack 8.1.0 reaches TCP only through multiserver's `net` plugin,
// which calls `net.connect(opts)` for outgoing connections and
// `net.createServer(opts, listener)` for incoming ones, looking both up on the
// `net` module at call time, and never exposes the socket it wraps. Wrapping
// those two functions of the shared `net` module (before any connection is
// made) is therefore the smallest way in: outgoing sockets get
// `setNoDelay(true)` right after creation (Node applies it once connected),
// and servers are created with Node's `noDelay: true` option, which sets it on
// every accepted socket.
'use strict'

const net = require('net')

let enabled = false

function enable () {
  if (enabled) return
  enabled = true
  const connect = net.connect
  const wrappedConnect = function (...args) {
    const socket = connect.apply(this, args)
    socket.setNoDelay(true)
    return socket
  }
  net.connect = wrappedConnect
  net.createConnection = wrappedConnect

  const createServer = net.createServer
  net.createServer = function (options, listener) {
    if (typeof options === 'function' || options === undefined) {
      return createServer.call(this, { noDelay: true }, options)
    }
    return createServer.call(this, Object.assign({}, options, { noDelay: true }), listener)
  }
}

module.exports = { enable }
